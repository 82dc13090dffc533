"""TensorBoard logs of a training run, against the training iteration."""

import time

import keras
import numpy as np
from keras import ops

from predrnn_keras.recipe_config import optimizer_schedule
from predrnn_keras.models import schedules
from predrnn_keras.plots import sequence_grid


def _summary():
    # TensorFlow is a dependency of the package (tf.data); its summary writer
    # works whatever the Keras backend, on NumPy values.
    import tensorflow as tf

    return tf.summary


def schedule_probabilities(model, iteration: int) -> dict:
    """The probabilities of a true input frame at `iteration`, by phase.

    Returns:
        `{"encoder": p, "decoder": p}` for reverse scheduled sampling (the
        `r_eta` of the context steps after the first, and the `eta` of the
        later steps), `{"decoder": eta}` for scheduled sampling and `{}`
        without sampling.
    """
    constants = model.schedule_constants()
    if model.sampling == "scheduled":
        eta = schedules.scheduled_sampling_eta(
            iteration,
            constants["sampling_start_value"],
            constants["sampling_changing_rate"],
            constants["sampling_stop_iter"],
        )
        return {"decoder": float(ops.convert_to_numpy(eta))}
    if model.sampling == "reverse":
        r_eta, eta = schedules.reverse_sampling_probabilities(
            iteration,
            constants["r_sampling_step_1"],
            constants["r_sampling_step_2"],
            constants["r_exp_alpha"],
        )
        return {
            "encoder": float(ops.convert_to_numpy(r_eta)),
            "decoder": float(ops.convert_to_numpy(eta)),
        }
    return {}


class TrainingBoard(keras.callbacks.Callback):
    """Writes TensorBoard summaries of a run, with the iteration as step.

    The step of every summary is the training iteration (the model's
    `sampling_step`), so the curves of a resumed run continue those of the
    killed one. In `log_dir/train`, every `log_every` iterations:

    - `loss`, `mse`, `decouple`: means over the iterations since the last
      log (Keras' running epoch means, differenced);
    - `schedule/true_frame_prob_encoder` and `..._decoder`: the sampling
      probabilities (`r_eta`, `eta`) at that iteration;
    - `learning_rate` and `iterations_per_second`.

    In `log_dir/validation`, at every evaluation: `loss`, `mse`, `decouple`
    (TensorBoard draws them on the same charts as the training curves) and
    the image `predictions`, a grid of context, truth and prediction of a
    few fixed validation sequences.

    Args:
        log_dir: the TensorBoard folder.
        epoch_length: iterations per epoch.
        log_every: iterations between training summaries.
        image_sequences: validation sequences `(n, T, h, w, c)` to draw
            (`n` may be 0).
        text: optional Markdown text written once (e.g. the recipe).
    """

    def __init__(
        self,
        log_dir,
        epoch_length: int,
        log_every: int,
        image_sequences=None,
        text: "str | None" = None,
    ):
        super().__init__()
        self.log_dir = str(log_dir)
        self.epoch_length = epoch_length
        self.log_every = log_every
        self.image_sequences = image_sequences
        self.text = text
        self._writers = None
        self._epoch = 0
        # Iterations of the first epoch done before this fit (a run resumed
        # from a checkpoint written inside an epoch).
        self.batch_offset = 0
        self._learning_rate = None
        self._window = (0, {})
        self._time = (None, None)

    def _writer(self, name):
        return self._writers[name]

    def on_train_begin(self, logs=None):
        summary = _summary()
        self._writers = {
            name: summary.create_file_writer(f"{self.log_dir}/{name}")
            for name in ("train", "validation")
        }
        # Read while the variables are attached (JAX detaches them in fit).
        self._learning_rate = optimizer_schedule(self.model.optimizer)
        if self._learning_rate is None:
            self._learning_rate = float(
                ops.convert_to_numpy(self.model.optimizer.learning_rate)
            )
        start = int(ops.convert_to_numpy(self.model.sampling_step))
        if self.text and start == 0:
            with self._writer("train").as_default():
                summary.text("recipe", self.text, step=0)
        self._time = (start, time.time())

    def on_train_end(self, logs=None):
        for writer in (self._writers or {}).values():
            writer.flush()
            writer.close()
        self._writers = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._window = (0, {})

    def _iteration(self, batch):
        return self._epoch * self.epoch_length + self.batch_offset + batch + 1

    def on_train_batch_end(self, batch, logs=None):
        iteration = self._iteration(batch)
        if iteration % self.log_every or not logs:
            return
        count = batch + 1
        means = {
            k: float(np.asarray(v)) for k, v in logs.items() if np.ndim(v) == 0
        }
        previous_count, previous = self._window
        window = {}
        for name, mean in means.items():
            if previous_count and name in previous:
                window[name] = (
                    mean * count - previous[name] * previous_count
                ) / (count - previous_count)
            else:
                window[name] = mean
        self._window = (count, means)
        summary = _summary()
        start_iteration, start_time = self._time
        now = time.time()
        speed = (iteration - start_iteration) / max(now - start_time, 1e-9)
        self._time = (iteration, now)
        with self._writer("train").as_default():
            for name, value in window.items():
                summary.scalar(name, value, step=iteration)
            for phase, p in schedule_probabilities(
                self.model, iteration
            ).items():
                summary.scalar(
                    f"schedule/true_frame_prob_{phase}", p, step=iteration
                )
            summary.scalar(
                "learning_rate", self._learning_rate_at(iteration),
                step=iteration,
            )
            summary.scalar("iterations_per_second", speed, step=iteration)

    def _learning_rate_at(self, iteration: int) -> float:
        """The learning rate of the last step of `iteration`."""
        if isinstance(self._learning_rate, float):
            return self._learning_rate
        steps = iteration * (2 if self.model.reverse_input else 1) - 1
        return float(ops.convert_to_numpy(self._learning_rate(steps)))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        iteration = (epoch + 1) * self.epoch_length
        val = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if not val or self.model.stop_training:
            return
        summary = _summary()
        with self._writer("validation").as_default():
            for name, value in val.items():
                summary.scalar(name, float(np.asarray(value)), step=iteration)
            if self.image_sequences is not None and len(self.image_sequences):
                summary.image(
                    "predictions",
                    self.prediction_grid()[None],
                    step=iteration,
                    description=(
                        "Each sequence: true frames (context, then future) "
                        "and below the future the model's predictions."
                    ),
                )
        for writer in self._writers.values():
            writer.flush()

    def prediction_grid(self) -> np.ndarray:
        """The grid image of the fixed validation sequences, now."""
        frames = np.asarray(self.image_sequences)
        context_length = self.model.input_length
        horizon = frames.shape[1] - context_length
        pred = self.model.predict_future(frames[:, :context_length], horizon)
        return sequence_grid(
            frames[:, :context_length], frames[:, context_length:], pred
        )
