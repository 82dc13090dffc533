import os
import shutil
import tempfile

# The library's default (predrnn_keras/__init__.py), set before Keras
# imports TensorFlow so the tests run what users run.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# JAX: one persistent compilation cache for the whole session, shared with
# the train.py / evaluate.py processes the workflow tests start (they inherit
# the environment). Those processes compile the same tiny programs again and
# again (a killed run, its resume, the evaluation); with the cache a repeated
# tiny train.py run took 0.4x the time (42 s against 104 s). Every entry,
# however small or quick to compile, is kept. Set JAX_COMPILATION_CACHE_DIR
# yourself to keep a cache between sessions.
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _JAX_CACHE = tempfile.mkdtemp(prefix="predrnn-keras-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _JAX_CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import keras


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_unconfigure(config):
    if _JAX_CACHE is not None:
        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
