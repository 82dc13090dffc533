"""Training runs: run folders, `model.fit` with checkpoints, resume."""

from predrnn_keras.callbacks.stop_signal import TrainingStopped
from predrnn_keras.run_folder import RunFolder
from predrnn_keras.run_folder import RunFolderError
from predrnn_keras.training.trainer import NonFiniteLossError
from predrnn_keras.training.trainer import TrainResult
from predrnn_keras.training.trainer import epoch_length
from predrnn_keras.training.trainer import train
from predrnn_keras.training.trainer import validation_epochs

__all__ = [
    "NonFiniteLossError",
    "RunFolder",
    "RunFolderError",
    "TrainResult",
    "TrainingStopped",
    "epoch_length",
    "train",
    "validation_epochs",
]
