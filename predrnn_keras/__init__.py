"""predrnn_keras: PredRNN and PredRNN-V2 for Keras 3 (TensorFlow, JAX, PyTorch)."""

import os

# TensorFlow's oneDNN kernels trained the small configuration 1.3x faster on
# this project's CPUs, where TensorFlow leaves them off by default (it turns
# them on only for some Intel CPUs). It is read when TensorFlow is imported,
# so it takes effect when predrnn_keras is imported first (train.py,
# evaluate.py); set TF_ENABLE_ONEDNN_OPTS=0 to keep TensorFlow's own choice.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

# Keras without JAX on the other backends (keras_import.py).
from predrnn_keras.keras_import import import_keras  # noqa: E402

import_keras()

import keras  # noqa: E402

from predrnn_keras.xla_flags import default_jax_cpu_flags  # noqa: E402

# JAX on CPU: XLA's own convolutions instead of YNNPACK's (xla_flags.py).
# Read when JAX creates its backend, at the first computation.
if keras.backend.backend() == "jax":
    default_jax_cpu_flags()

from predrnn_keras.layers import PredRNNCell
from predrnn_keras.layers import SpatioTemporalLSTM
from predrnn_keras.layers import SpatioTemporalRNN
from predrnn_keras.layers import patch_frames
from predrnn_keras.layers import unpatch_frames
from predrnn_keras.models import PredRNN
from predrnn_keras.models import PredRNNV2

__version__ = "0.1.0"

__all__ = [
    "PredRNN",
    "PredRNNCell",
    "PredRNNV2",
    "SpatioTemporalLSTM",
    "SpatioTemporalRNN",
    "patch_frames",
    "unpatch_frames",
]
