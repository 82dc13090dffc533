"""A clean stop on SIGTERM or SIGINT: the iteration ends, a checkpoint is
written, and training exits with the signal's status."""

import os
import signal
import sys
import threading

import keras

STOP_SIGNALS = ("SIGTERM", "SIGINT")


class TrainingStopped(Exception):
    """Training stopped on a signal, after committing a checkpoint.

    Attributes:
        signum: the signal's number.
        iteration: the last completed iteration (None if the checkpoint
            could not be written, e.g. after the NaN guard tripped).
        checkpoint: the checkpoint committed at it, or None.
        exit_status: 128 + the signal's number (143 for SIGTERM, 130 for
            SIGINT), as a shell reports a process the signal ended.
    """

    def __init__(self, signum: int, iteration, checkpoint):
        self.signum = signum
        self.iteration = iteration
        self.checkpoint = checkpoint
        self.exit_status = 128 + int(signum)
        name = signal.Signals(signum).name
        if checkpoint is None:
            where = "no checkpoint was written"
        else:
            where = f"checkpoint {checkpoint} at iteration {iteration}"
        super().__init__(
            f"{name}: training stopped; {where}. Run the same command again "
            "to resume."
        )


class StopSignal(keras.callbacks.Callback):
    """Turns the first SIGTERM or SIGINT during `fit` into a clean stop.

    The handler only records the signal: the iteration under way finishes,
    then (at its `on_train_batch_end`, or the epoch's end) the run's
    `RunCheckpoint` commits a checkpoint at that iteration and `fit` raises
    `TrainingStopped`. A second signal takes the signal's default action
    (the process ends at once). `install` and `uninstall` bracket `fit`;
    outside the main thread, where Python cannot handle signals, they do
    nothing.

    Args:
        checkpoint: the run's `RunCheckpoint`.
    """

    def __init__(self, checkpoint):
        super().__init__()
        self.checkpoint = checkpoint
        self.signum = None
        self._previous = {}

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and number not in self._previous:
                self._previous[number] = signal.signal(number, self._handle)

    def uninstall(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: finishing this iteration and "
            "writing a checkpoint (send it again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.signum is not None:
            self._stop()

    def on_epoch_end(self, epoch, logs=None):
        if self.signum is not None:
            self._stop()

    def _stop(self):
        iteration, path = self.checkpoint.save_now()
        raise TrainingStopped(self.signum, iteration, path)
