"""Callbacks of a training run: checkpoints, TensorBoard and a NaN guard."""

from predrnn_keras.callbacks.nan_guard import NaNGuard
from predrnn_keras.callbacks.run_checkpoint import RunCheckpoint
from predrnn_keras.callbacks.training_board import TrainingBoard
from predrnn_keras.callbacks.training_board import schedule_probabilities

__all__ = [
    "NaNGuard",
    "RunCheckpoint",
    "TrainingBoard",
    "schedule_probabilities",
]
