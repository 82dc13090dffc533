import os
import shutil
import tempfile

# JAX: one persistent compilation cache for the test run, shared with the
# train.py / evaluate.py processes the workflow tests start (they inherit the
# environment), which compile the same tiny programs again and again (a killed
# run, its resume, the evaluation). Every entry, however small or quick to
# compile, is kept. Set JAX_COMPILATION_CACHE_DIR yourself to keep a cache
# from one test run to the next.
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="predrnn-keras-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# The command lines' set-up, before Keras loads: the tests run what users run.
from predrnn_keras import configure_runtime  # noqa: E402

configure_runtime()

import keras  # noqa: E402


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_unconfigure(config):
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
