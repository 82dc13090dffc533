"""Model classes and their training schedules."""

from predrnn_keras.models.predrnn import PredRNN
from predrnn_keras.models.predrnn_v2 import PredRNNV2

__all__ = ["PredRNN", "PredRNNV2"]
