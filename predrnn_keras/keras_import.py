"""Importing Keras without loading JAX on the TensorFlow and PyTorch backends.

Keras imports JAX whenever it is installed, whatever the backend: its Orbax
checkpoint callback module patches `jax.monitoring` at import. On TensorFlow
and PyTorch nothing uses JAX, and jaxlib adds about 110 MiB to the process's
resident memory. `import_keras` (run by `predrnn_keras.configure_runtime`)
lets Keras import without it; `import jax` works as usual afterwards.
"""

import importlib
import json
import os
import sys

# Set to 1 to let Keras import JAX (when installed) as it does by default.
KEEP_VARIABLE = "PREDRNN_KERAS_KEEP_JAX_IMPORT"
# The backends that never use JAX.
BACKENDS_WITHOUT_JAX = ("tensorflow", "torch")


def configured_backend(environ=None, home=None):
    """The backend Keras chooses when it is imported, or None if unsure.

    Read as `keras.src.backend.config` reads it: `KERAS_BACKEND` when set
    and not empty, else the `"backend"` of `keras.json` in `KERAS_HOME`
    (by default `~/.keras`, or `/tmp/.keras` when the home folder is not
    writable), else TensorFlow.

    Args:
        environ: the environment (`os.environ` by default).
        home: the user's home folder (`~` by default).
    """
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    if "KERAS_HOME" in environ:
        keras_dir = environ["KERAS_HOME"]
    else:
        base = os.path.expanduser("~") if home is None else home
        if not os.access(base, os.W_OK):
            base = "/tmp"
        keras_dir = os.path.join(base, ".keras")
    path = os.path.expanduser(os.path.join(keras_dir, "keras.json"))
    if not os.path.exists(path):
        return "tensorflow"
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    return config.get("backend", "tensorflow")


def hides_jax(environ=None, modules=None, name="keras"):
    """Whether `import_keras` imports Keras with JAX hidden."""
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    if environ.get(KEEP_VARIABLE, "0") not in ("", "0"):
        return False
    if name in modules or "jax" in modules:
        return False  # too late, or JAX is in use already
    return configured_backend(environ) in BACKENDS_WITHOUT_JAX


def import_keras(name="keras"):
    """Imports and returns `keras`, without JAX where `hides_jax()`.

    Args:
        name: the package to import (tests import stand-ins).
    """
    if not hides_jax(name=name):
        return importlib.import_module(name)
    # A None entry makes `import jax` raise ImportError, which Keras'
    # optional import catches.
    sys.modules["jax"] = None
    try:
        return importlib.import_module(name)
    except ImportError:
        # A Keras that needs JAX at import: forget the partial import and
        # import it as usual.
        for module in [m for m in sys.modules if m.split(".")[0] == name]:
            del sys.modules[module]
        del sys.modules["jax"]
        return importlib.import_module(name)
    finally:
        if sys.modules.get("jax", False) is None:
            del sys.modules["jax"]
