"""`configure_runtime()`: the process set-up of this library's command lines.

Importing predrnn_keras leaves the environment alone and loads no
framework. The command lines (`train.py`, `evaluate.py`, the `predrnn-*`
console scripts, the benchmarks) call `configure_runtime()` first, because
its three settings take effect only before Keras, TensorFlow or JAX load. A program of your own may call it the
same way, first thing.
"""

import os
import sys
import warnings

from predrnn_keras import keras_import
from predrnn_keras import xla_flags

# TensorFlow reads it when it loads. 1: its oneDNN CPU kernels, which it
# enables by default on some Intel CPUs only (docs/design.md).
ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"

_configured = None


def configure_runtime(backend: str | None = None) -> dict:
    """Sets up this process for training and evaluation, then imports Keras.

    Call it before anything imports Keras, TensorFlow or JAX. It

    1. sets `TF_ENABLE_ONEDNN_OPTS=1` unless the variable is set: TensorFlow's
       oneDNN kernels, faster on CPUs where TensorFlow leaves them off;
    2. on the JAX backend, adds `--xla_cpu_experimental_ynn_fusion_type=` to
       `XLA_FLAGS` (see `xla_flags.default_jax_cpu_flags`): XLA's own CPU
       convolutions instead of YNNPACK's;
    3. imports Keras without JAX on the TensorFlow and PyTorch backends (see
       `keras_import.import_keras`), which keeps jaxlib's memory out of
       processes that never use it. `import jax` works as usual afterwards.

    Each setting has an opt-out: set `TF_ENABLE_ONEDNN_OPTS=0`,
    `PREDRNN_KERAS_KEEP_XLA_DEFAULTS=1` or `PREDRNN_KERAS_KEEP_JAX_IMPORT=1`.
    A second call changes nothing. A call after Keras was imported changes
    nothing either, and warns (`RuntimeWarning`): the settings could no
    longer take effect.

    Args:
        backend: "tensorflow", "jax" or "torch": sets `KERAS_BACKEND`.
            By default Keras' own choice (`KERAS_BACKEND`, `keras.json`).

    Returns:
        What it did: `{"backend": str, "onednn": bool, "xla_flags": bool,
        "keras_without_jax": bool}`, each flag True where the setting was
        made by this call (by the first call, on later ones).
    """
    global _configured
    if _configured is not None:
        return _configured
    if "keras" in sys.modules:
        warnings.warn(
            "predrnn_keras.configure_runtime() was called after Keras was "
            "imported: it changed nothing. Call it before importing keras "
            "(or tensorflow, jax).",
            RuntimeWarning,
            stacklevel=2,
        )
        import keras

        return {
            "backend": keras.backend.backend(),
            "onednn": False,
            "xla_flags": False,
            "keras_without_jax": False,
        }
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    onednn = ONEDNN_VARIABLE not in os.environ
    os.environ.setdefault(ONEDNN_VARIABLE, "1")
    flags = False
    if keras_import.configured_backend() == "jax":
        flags = xla_flags.default_jax_cpu_flags()
    without_jax = keras_import.hides_jax()
    keras = keras_import.import_keras()
    _configured = {
        "backend": keras.backend.backend(),
        "onednn": onednn,
        "xla_flags": flags,
        "keras_without_jax": without_jax,
    }
    return _configured
