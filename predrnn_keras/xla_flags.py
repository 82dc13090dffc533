"""The XLA flag this library sets for JAX on CPU, and when it sets it."""

import os

# XLA's CPU compiler (jaxlib 0.10) hands convolutions, and the element-wise
# work around them, to YNNPACK "fusions" by default. For the ST-LSTM's
# convolutions XLA's own kernels are faster on CPU (docs/design.md).
YNN_FUSION_FLAG = "--xla_cpu_experimental_ynn_fusion_type"
# XLA aborts the process on a flag it does not know, so the flag is added
# only on the jaxlib releases it was measured on.
MEASURED_JAXLIB = ((0, 10),)
# Set to 1 to leave XLA_FLAGS exactly as it is.
KEEP_VARIABLE = "PREDRNN_KERAS_KEEP_XLA_DEFAULTS"


def _jaxlib_version():
    import importlib.metadata  # imported here: it takes 40 ms

    try:
        version = importlib.metadata.version("jaxlib")
    except importlib.metadata.PackageNotFoundError:
        return None
    try:
        return tuple(int(part) for part in version.split(".")[:2])
    except ValueError:
        return None


def default_jax_cpu_flags(environ=None, jaxlib_version=None):
    """Adds `--xla_cpu_experimental_ynn_fusion_type=` to `XLA_FLAGS`.

    Effective when it runs before JAX creates its CPU backend, at its first
    computation (`predrnn_keras.configure_runtime` runs it). It changes
    nothing when `XLA_FLAGS` already names the flag (yours wins),
    when `PREDRNN_KERAS_KEEP_XLA_DEFAULTS=1`, or on a jaxlib other than the
    measured ones. The flag only concerns XLA's CPU compiler.

    Args:
        environ: the environment to change (`os.environ` by default).
        jaxlib_version: `(major, minor)`; read from the installed jaxlib
            by default.

    Returns:
        True when the flag was added.
    """
    environ = os.environ if environ is None else environ
    if environ.get(KEEP_VARIABLE, "0") not in ("", "0"):
        return False
    flags = environ.get("XLA_FLAGS", "")
    if YNN_FUSION_FLAG in flags:
        return False
    if jaxlib_version is None:
        jaxlib_version = _jaxlib_version()
    if jaxlib_version is None or tuple(jaxlib_version[:2]) not in (
        MEASURED_JAXLIB
    ):
        return False
    environ["XLA_FLAGS"] = f"{flags} {YNN_FUSION_FLAG}=".strip()
    return True
