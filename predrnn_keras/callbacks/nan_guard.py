"""Stops training at the first non-finite loss."""

import math

import keras
import numpy as np


class NaNGuard(keras.callbacks.Callback):
    """Stops `fit` as soon as the training loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN` it remembers where and why it
    stopped (`tripped`, `iteration`, `reason`), so that the checkpoint
    callback skips the rest of the epoch and the caller can explain it: the
    last checkpoint, written before the bad step, stays the latest.

    Args:
        epoch_length: iterations per epoch, to number the iterations.
    """

    def __init__(self, epoch_length: int):
        super().__init__()
        self.epoch_length = epoch_length
        self.tripped = False
        self.iteration = None
        self.reason = ""
        self._epoch = 0
        # Iterations of the first epoch done before this fit (a run resumed
        # from a checkpoint written inside an epoch).
        self.batch_offset = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def trip(self, iteration: int, reason: str) -> None:
        """Records the failure and stops training."""
        if not self.tripped:
            self.tripped = True
            self.iteration = iteration
            self.reason = reason
        self.model.stop_training = True

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "loss" not in logs:
            return
        loss = float(np.asarray(logs["loss"]))
        if not math.isfinite(loss):
            iteration = (
                self._epoch * self.epoch_length + self.batch_offset + batch + 1
            )
            self.trip(iteration, f"the training loss is {loss}")
