import os

# The library's default (predrnn_keras/__init__.py), set before Keras
# imports TensorFlow so the tests run what users run.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
