"""Checkpoints of a run: resumable, atomic, with the best and last model."""

import time

import keras
import numpy as np
from keras import ops

from predrnn_keras.hardware import describe_machine
from predrnn_keras.utils import files


class RunCheckpoint(keras.callbacks.Callback):
    """Writes the checkpoints of a run folder at the end of epochs.

    Every `checkpoint_every` iterations (and at the last one) it saves the
    model as `checkpoints/ckpt-NNNNNNN.keras` (weights, optimizer state and
    the `sampling_step` variable, so the schedule continues), links
    `last.keras` to it, then commits `state.json` with the iteration, the
    epoch and the data position (the number of training batches consumed)
    and deletes checkpoints beyond the newest `keep`. After each validation it
    keeps `best.keras`, the model of the lowest `val_mse`. Every file is
    written to a temporary name and renamed, so a kill never leaves a broken
    file under a final name, and `state.json` only ever names a complete
    checkpoint.

    Nothing is written after the `NaNGuard` trips, nor from weights that are
    not finite. `save_now` commits a checkpoint between epoch ends (on a stop
    signal); a run resumed from it finishes that epoch first.

    Args:
        run: the `RunFolder`.
        epoch_length: iterations per epoch.
        iterations: the last iteration of the run.
        checkpoint_every: iterations between checkpoints.
        keep: checkpoints to keep.
        guard: the run's `NaNGuard`.
        state: the state to continue (from `state.json`), or None.
        verbose: print a line per checkpoint.
    """

    def __init__(
        self,
        run,
        epoch_length: int,
        iterations: int,
        checkpoint_every: int,
        keep: int,
        guard,
        state=None,
        verbose: bool = True,
    ):
        super().__init__()
        self.run = run
        self.epoch_length = epoch_length
        self.iterations = iterations
        self.checkpoint_every = checkpoint_every
        self.keep = keep
        self.guard = guard
        self.verbose = verbose
        state = state or {}
        self.best_val_mse = state.get("best_val_mse")
        self.best_iteration = state.get("best_iteration")
        self.train_seconds = state.get("train_seconds", 0.0)
        self.hardware = describe_machine()
        self._started = None
        self._committed = state.get("iteration")

    def on_train_begin(self, logs=None):
        self._started = time.time()

    def _weights_finite(self) -> bool:
        return all(
            np.all(np.isfinite(ops.convert_to_numpy(v)))
            for v in self.model.trainable_variables
        )

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped:
            return
        iteration = (epoch + 1) * self.epoch_length
        step = self._sampling_step(epoch, iteration)
        checkpoint_due = (
            iteration % self.checkpoint_every == 0
            or iteration >= self.iterations
        )
        val_mse = (logs or {}).get("val_mse")
        improved = self._improves(val_mse)
        if not (checkpoint_due or improved):
            return
        if not self._weights_finite():
            self.guard.trip(iteration, "the weights are no longer finite")
            return
        checkpoint = None
        if checkpoint_due:
            self.run.checkpoint_dir.mkdir(exist_ok=True)
            checkpoint = self.run.checkpoint_path(iteration)
            files.save_model(self.model, checkpoint)
        if improved:
            self._keep_best(float(val_mse), iteration, checkpoint)
        if checkpoint is not None:
            self._commit(checkpoint, iteration, step)

    def save_now(self):
        """Commits a checkpoint at the model's current iteration, which may
        fall inside an epoch (a stop signal); nothing when the latest commit
        is already at it, or after the NaN guard tripped.

        Returns:
            `(iteration, checkpoint)` of the latest commit, or
            `(None, None)` when there is none to trust.
        """
        if self.guard.tripped:
            return None, None
        step = int(ops.convert_to_numpy(self.model.sampling_step))
        if step != self._committed:
            if not self._weights_finite():
                self.guard.trip(step, "the weights are no longer finite")
                return None, None
            self.run.checkpoint_dir.mkdir(exist_ok=True)
            checkpoint = self.run.checkpoint_path(step)
            files.save_model(self.model, checkpoint)
            self._commit(checkpoint, step, step)
        return step, self.run.checkpoint_path(step)

    def _sampling_step(self, epoch, iteration):
        """The model's `sampling_step`, which must be `iteration`."""
        step = int(ops.convert_to_numpy(self.model.sampling_step))
        if step != iteration:
            raise RuntimeError(
                f"Expected the model's sampling_step to be {iteration} after "
                f"epoch {epoch + 1}. Received: {step}"
            )
        return step

    def _improves(self, val_mse):
        """Whether `val_mse` is finite and lower than the best so far."""
        return (
            val_mse is not None
            and np.isfinite(float(val_mse))
            and (
                self.best_val_mse is None or float(val_mse) < self.best_val_mse
            )
        )

    def _keep_best(self, val_mse, iteration, checkpoint):
        """Keeps `best.keras`: the checkpoint just written, else the model."""
        self.best_val_mse = val_mse
        self.best_iteration = iteration
        if checkpoint is not None:
            files.link_or_copy(checkpoint, self.run.best_path)
        else:
            files.save_model(self.model, self.run.best_path)

    def _commit(self, checkpoint, iteration, step):
        """Links `last.keras` to `checkpoint`, commits `state.json` and
        prunes the checkpoints beyond `keep`."""
        now = time.time()
        self.train_seconds += now - self._started
        self._started = now
        finished = iteration >= self.iterations
        # last.keras before the state: a run whose state says "finished" is
        # never resumed, so its last.keras must already be the final model.
        files.link_or_copy(checkpoint, self.run.last_path)
        self.run.write_state(
            {
                "iteration": iteration,
                "epoch": iteration // self.epoch_length,
                "data_batches_consumed": iteration,
                "sampling_step": step,
                "checkpoint": str(checkpoint.relative_to(self.run.path)),
                "iterations": self.iterations,
                "finished": finished,
                "best_val_mse": self.best_val_mse,
                "best_iteration": self.best_iteration,
                "train_seconds": round(self.train_seconds, 1),
                "backend": keras.backend.backend(),
                "hardware": self.hardware,
                "saved_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        self._committed = iteration
        self.run.prune_checkpoints(self.keep, protect=checkpoint)
        if self.verbose:
            best = (
                f"; best val_mse {self.best_val_mse:.5f} at iteration "
                f"{self.best_iteration}"
                if self.best_val_mse is not None
                else ""
            )
            print(f"Checkpoint: iteration {iteration} -> {checkpoint}{best}")
