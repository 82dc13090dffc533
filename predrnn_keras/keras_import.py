"""Importing Keras without loading JAX on the TensorFlow and PyTorch backends.

Keras imports JAX whenever it is installed, whatever the backend: its Orbax
checkpoint callback module patches `jax.monitoring` at import. On TensorFlow
and PyTorch nothing uses JAX, and jaxlib adds about 110 MiB to the process's
resident memory. `import_keras` (run by `predrnn_keras.configure_runtime`)
lets Keras import without it; `import jax` works as usual afterwards.

`import_after_keras` imports modules right after Keras, whoever imports it:
`import predrnn_keras` uses it so that the package's Keras serializables
register however the imports are ordered, while Keras itself still loads
only when first used.
"""

import contextlib
import importlib
import importlib.abc
import json
import os
import sys
import warnings

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

    The modules waiting for Keras (`import_after_keras`) are imported after
    JAX is visible again.

    Args:
        name: the package to import (tests import stand-ins).
    """
    waiting = _waiting.get(name)
    with waiting.hold() if waiting else contextlib.nullcontext():
        return _import_keras(name)


def _import_keras(name):
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


# Trigger name -> its `_AfterImport` finder, while it waits.
_waiting = {}


def import_after_keras(modules, package: str, name: str = "keras") -> None:
    """Imports `modules` right after `name` is first imported, by anyone.

    If `name` is imported already, imports them now. Otherwise installs a
    one-shot `sys.meta_path` finder that follows the import of `name` and
    of the modules of `package`: once `name` has executed and no module of
    `package` is executing (a module that imports Keras while it loads
    finishes first, so that `modules` never meet a half-loaded one), it
    removes itself and imports `modules`. A module that fails to import
    then is reported with a `RuntimeWarning`, and `import keras` still
    succeeds.

    Args:
        modules: the dotted names of the modules to import.
        package: the top-level package that `modules` belong to.
        name: the module to wait for (tests use stand-ins).
    """
    if sys.modules.get(name) is not None:
        for module in modules:
            importlib.import_module(module)
        return
    if name in _waiting:
        _waiting[name].modules += tuple(modules)
        return
    finder = _AfterImport(name, modules, package)
    _waiting[name] = finder
    sys.meta_path.insert(0, finder)


class _AfterImport(importlib.abc.MetaPathFinder):
    """Finds modules as the rest of `sys.meta_path` does, and wraps the
    execution of `name` and of `package`'s modules to see when `modules`
    can be imported."""

    def __init__(self, name, modules, package):
        self.name = name
        self.modules = tuple(modules)
        self.package = package
        self.executing = 0  # modules of the package, and import_keras
        self.done = False  # `name` has executed

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name and not fullname.startswith(
            f"{self.package}."
        ):
            return None
        spec = None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is not self and find is not None:
                spec = find(fullname, path, target)
                if spec is not None:
                    break
        loader = getattr(spec, "loader", None)
        # Only a loader of this one module: a class serves many.
        if loader is None or isinstance(loader, type):
            return spec
        if not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def exec_and_follow(module):
            del loader.exec_module  # a reload runs the plain method
            with self.hold():
                exec_module(module)
                if fullname == self.name:
                    self.done = True

        loader.exec_module = exec_and_follow
        return spec

    @contextlib.contextmanager
    def hold(self):
        """Defers the imports until the block ends (without an error)."""
        self.executing += 1
        try:
            yield
        finally:
            self.executing -= 1
        if self.done and not self.executing and _waiting.get(self.name) is self:
            del _waiting[self.name]
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)
            for module in self.modules:
                try:
                    importlib.import_module(module)
                except Exception as error:
                    warnings.warn(
                        f"Importing {module} after {self.name} failed "
                        f"({type(error).__name__}: {error}); it loads when "
                        "first used.",
                        RuntimeWarning,
                    )
