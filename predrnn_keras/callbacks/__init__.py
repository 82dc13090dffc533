"""Callbacks of a training run: checkpoints, TensorBoard, a NaN guard and a
clean stop on signals."""

from predrnn_keras.callbacks.nan_guard import NaNGuard
from predrnn_keras.callbacks.run_checkpoint import RunCheckpoint
from predrnn_keras.callbacks.stop_signal import StopSignal
from predrnn_keras.callbacks.stop_signal import TrainingStopped
from predrnn_keras.callbacks.training_board import TrainingBoard
from predrnn_keras.callbacks.training_board import schedule_probabilities

__all__ = [
    "NaNGuard",
    "RunCheckpoint",
    "StopSignal",
    "TrainingBoard",
    "TrainingStopped",
    "schedule_probabilities",
]
