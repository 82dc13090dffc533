"""predrnn_keras: PredRNN and PredRNN-V2 for Keras 3 (TensorFlow, JAX, PyTorch)."""

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
