"""The training step of PredRNN: sampling masks, two passes, the losses.

docs/method.md, "Prediction and training loss", "Scheduled sampling",
"Reverse scheduled sampling" and "Memory decoupling loss"; the balanced
loss is in docs/training.md, "Balanced loss".
"""

import math

import keras
from keras import ops

from predrnn_keras import backends
from predrnn_keras.models import schedules

# The prediction losses: the mean squared error, or the intensity-weighted
# ("balanced") mean squared plus mean absolute error.
LOSSES = ("mse", "balanced")


def check_loss(loss, thresholds, weights):
    """Checks the prediction loss's arguments.

    Args:
        loss: "mse" or "balanced".
        thresholds: numbers, strictly increasing: the values (in the model's
            units) from which a pixel's weight rises. Empty for "mse".
        weights: numbers > 0, one more than `thresholds`: the weight of a
            pixel whose true value reaches `k` thresholds is `weights[k]`.
            Empty for "mse".

    Returns:
        `(thresholds, weights)` as lists of floats.

    Raises:
        ValueError: a value that is not allowed, named in one line.
    """
    if loss not in LOSSES:
        raise ValueError(
            f"Expected `loss` in {LOSSES}. Received: loss={loss!r}"
        )
    try:
        thresholds = [float(t) for t in thresholds]
        weights = [float(w) for w in weights]
    except (TypeError, ValueError):
        raise ValueError(
            "Expected loss_thresholds and loss_weights to be lists of "
            f"numbers. Received: loss_thresholds={thresholds!r}, "
            f"loss_weights={weights!r}"
        ) from None
    if loss == "mse":
        if thresholds or weights:
            raise ValueError(
                "Expected no loss_thresholds or loss_weights with "
                f"loss='mse'. Received: loss_thresholds={thresholds}, "
                f"loss_weights={weights}"
            )
        return thresholds, weights
    if not thresholds or len(weights) != len(thresholds) + 1:
        raise ValueError(
            "Expected loss='balanced' to have at least one loss_threshold "
            "and one more loss_weight than loss_thresholds. Received: "
            f"loss_thresholds={thresholds}, loss_weights={weights}"
        )
    if not all(map(math.isfinite, thresholds)) or any(
        a >= b for a, b in zip(thresholds, thresholds[1:])
    ):
        raise ValueError(
            "Expected finite, strictly increasing loss_thresholds. "
            f"Received: loss_thresholds={thresholds}"
        )
    if not all(math.isfinite(w) and w > 0 for w in weights):
        raise ValueError(
            "Expected finite loss_weights > 0. "
            f"Received: loss_weights={weights}"
        )
    return thresholds, weights


def pixel_weights(target, thresholds, weights):
    """The balanced loss's weight of every pixel of `target`.

    Args:
        target: float32 tensor of true values.
        thresholds: strictly increasing floats.
        weights: floats, one more than `thresholds`.

    Returns:
        A float32 tensor shaped like `target`: `weights[k]` where the true
        value reaches `k` thresholds (`value >= thresholds[k - 1]`).
    """
    # The weights telescope: a pixel above thresholds 0 .. k - 1 collects
    # weights[0] + (weights[1] - weights[0]) + ... = weights[k].
    result = ops.full_like(target, weights[0])
    for threshold, below, above in zip(thresholds, weights, weights[1:]):
        reached = ops.cast(ops.greater_equal(target, threshold), "float32")
        result = result + (above - below) * reached
    return result


def balanced_loss(prediction, target, thresholds, weights):
    """`mean(w * err^2) + mean(w * |err|)`, `w = pixel_weights(target)`.

    The balanced MSE + MAE of Shi et al., "Deep learning for precipitation
    nowcasting: a benchmark and a new model" (NeurIPS 2017), with means over
    all pixels where that paper sums, so that its scale is that of the MSE.

    Args:
        prediction: float32 predicted values.
        target: float32 true values, shaped like `prediction`.
        thresholds: strictly increasing floats, in the values' units.
        weights: floats > 0, one more than `thresholds`.

    Returns:
        A float32 scalar.
    """
    error = prediction - target
    w = pixel_weights(target, thresholds, weights)
    return ops.mean(w * ops.square(error)) + ops.mean(w * ops.abs(error))


class SampledTraining:
    """Mixin of `PredRNN`: `train_step` with a sampling mask per iteration.

    Each iteration draws the mask of true and generated inputs from the
    model's schedule (`sampling`, at `sampling_step`), advances
    `sampling_step`, and makes one optimiser step, or two with
    `reverse_input` (the second on the time-reversed batch with the same
    mask). The random numbers of the mask are a pure function of
    `(seed, sampling_step)`, so a resumed run draws the masks an
    uninterrupted one would.

    List it before the Keras base class. The model provides `seed`,
    `sampling_step`, `mask_seed_generator`, `input_length`, `sampling`,
    `schedule_constants()`, `reverse_input`, `decoupling`,
    `decouple_beta`, `prediction_loss` ("mse" or "balanced"),
    `loss_thresholds`, `loss_weights`, `mse_tracker`, `decouple_tracker`
    and `split_inputs(inputs)`.
    """

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        frames, _ = self.split_inputs(x)
        target = ops.cast(frames[:, 1:], "float32")
        prediction = ops.cast(y_pred, "float32")
        mse = ops.mean(ops.square(prediction - target))
        batch = ops.shape(frames)[0]
        self.mse_tracker.update_state(mse, sample_weight=batch)
        loss = mse
        if self.prediction_loss == "balanced":
            loss = balanced_loss(
                prediction, target, self.loss_thresholds, self.loss_weights
            )
        if self.decoupling:
            # The decoupling term is the only loss the model adds in `call`.
            decouple = ops.sum(
                [ops.cast(term, "float32") for term in self.losses]
            )
            self.decouple_tracker.update_state(decouple, sample_weight=batch)
            loss = loss + self.decouple_beta * decouple
        # tf.distribute sums the replicas' gradients, and Keras' TensorFlow
        # trainer expects the loss divided by the number of replicas (it
        # multiplies it back for the `loss` it reports): the update is then
        # the gradient of the global-batch mean, as on one device.
        replicas = backends.current().num_replicas_in_sync()
        if replicas > 1:
            loss = loss / replicas
        return loss

    def next_training_mask(self, frames):
        """Draws this iteration's mask and advances `sampling_step`."""
        step = ops.copy(self.sampling_step)
        self.sampling_step.assign_add(1)
        batch = ops.shape(frames)[0]
        steps = ops.shape(frames)[1] - 1
        # Seeding the stream with (seed, step) makes the mask of iteration
        # `step` independent of how the run was interrupted and resumed.
        state = self.mask_seed_generator.state
        state.assign(
            ops.cast(
                ops.stack([ops.cast(self.seed, "int32"), step]), state.dtype
            )
        )
        # Under tf.distribute each replica holds one slice of the global
        # batch and the same random stream: draw the global batch's numbers
        # and keep this replica's rows, so replicas get different masks and
        # the masks equal those of one device on the same global batch.
        replica, num_replicas = backends.current().replica_position()
        uniform = keras.random.uniform(
            (batch * num_replicas, steps), seed=self.mask_seed_generator
        )
        if num_replicas > 1:
            uniform = ops.slice(
                uniform,
                ops.stack([ops.cast(replica * batch, "int32"), 0]),
                ops.stack([ops.cast(batch, "int32"), steps]),
            )
        probabilities = schedules.true_frame_probabilities(
            step + 1,
            steps,
            self.input_length,
            self.sampling,
            **self.schedule_constants(),
        )
        return schedules.sampling_mask(
            uniform, probabilities, self.variable_dtype
        )

    def _training_frames(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        frames, _ = self.split_inputs(x)
        return frames

    def train_step(self, *args):
        backend = backends.current()
        if backend.stateless_train_step:
            return self._stateless_train_step(*args)
        (data,) = args
        frames = self._training_frames(data)
        mask = self.next_training_mask(frames)
        logs = super().train_step(({"frames": frames, "mask": mask},))
        if self.reverse_input:
            logs = super().train_step(
                ({"frames": ops.flip(frames, axis=1), "mask": mask},)
            )
        return backend.logs_for_reduction(logs)

    def test_step(self, *args):
        return backends.current().logs_for_reduction(super().test_step(*args))

    def _stateless_train_step(self, state, data):
        # JAX: train_step is a pure function of `state`. The mask code reads
        # and advances model variables (sampling_step, the seed generator),
        # so it runs in a StatelessScope mapped onto the non-trainable values
        # of `state`, whose new values go back into `state`.
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        frames = self._training_frames(data)
        mapping = list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            mask = self.next_training_mask(frames)
        non_trainable = [
            scope.get_current_value(variable)
            if scope.get_current_value(variable) is not None
            else value
            for variable, value in mapping
        ]
        state = (trainable, non_trainable, optimizer_vars, metrics_vars)
        logs, state = super().train_step(
            state, ({"frames": frames, "mask": mask},)
        )
        if self.reverse_input:
            logs, state = super().train_step(
                state, ({"frames": ops.flip(frames, axis=1), "mask": mask},)
            )
        return logs, state
