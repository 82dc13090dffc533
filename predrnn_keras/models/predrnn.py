"""The PredRNN model: patching, the recurrent stack, rollouts.

Its training step (sampling masks, losses) is `SampledTraining`.
"""

import random

import keras
import numpy as np
from keras import ops

from predrnn_keras import backends
from predrnn_keras import pretrained
from predrnn_keras.layers.patching import check_patchable
from predrnn_keras.layers.patching import patch_frames
from predrnn_keras.layers.patching import unpatch_frames
from predrnn_keras.layers.precision import Float32Recurrence
from predrnn_keras.layers.predrnn_cell import PredRNNCell
from predrnn_keras.layers.spatiotemporal_rnn import SpatioTemporalRNN
from predrnn_keras.models import schedules
from predrnn_keras.models.sampled_training import SampledTraining
from predrnn_keras.models.sampled_training import check_loss


@keras.saving.register_keras_serializable(package="predrnn_keras")
class PredRNN(SampledTraining, Float32Recurrence, keras.Model):
    """PredRNN: spatiotemporal LSTMs with a zigzag memory, as a Keras Model.

    Given a sequence of `T` frames, the model runs `T - 1` recurrent steps and
    predicts frame `t + 1` at every step `t`. Frames are patched
    (space-to-depth, `patch_size`) before the ST-LSTM stack and unpatched
    after it. The input of step `t` is the true frame where the 0/1 mask is 1
    and the model's own previous prediction where it is 0.

    Training (`fit`) draws the mask from the sampling schedule in
    `train_step` (`SampledTraining`): PredRNN's scheduled sampling
    (`sampling="scheduled"`) or
    PredRNN-V2's reverse scheduled sampling (`sampling="reverse"`). The
    schedule step is the model variable `sampling_step`, so it is saved in
    checkpoints and `.keras` files and continues after a reload; the random
    numbers of the mask are a pure function of `(seed, sampling_step)`, so a
    resumed run draws the same masks as an uninterrupted one. With
    `reverse_input=True` each iteration makes a second optimiser step on the
    time-reversed batch with the same mask, and the reported losses are the
    mean of the two steps.

    The loss is the mean squared error between the `T - 1` predictions and
    frames `1 .. T - 1` (`loss="mse"`), or with `loss="balanced"` the
    intensity-weighted mean squared plus mean absolute error of the HKO-7
    benchmark: `mean(w * err^2) + mean(w * |err|)`, where a pixel's weight
    `w` is `loss_weights[k]` when its true value reaches `k` of the
    `loss_thresholds`. When `decouple_beta > 0`, `decouple_beta` times the
    memory decoupling loss of PredRNN-V2 is added. `fit` reports `loss`,
    `mse` (the plain mean squared error, whichever the loss) and (with
    decoupling) `decouple`.

    One class serves both papers: PredRNN-V2 is PredRNN with the decoupling
    loss and reverse scheduled sampling. `PredRNNV2` is this class with those
    defaults.

    Without a mask (evaluation, `predict`, a plain call) the first
    `input_length` inputs are true frames and every later input is the
    model's own prediction, as at test time. `predict_future` rolls out any
    number of frames past a context of any length.

    Args:
        num_hidden: list of ints, hidden channels per ST-LSTM layer (equal).
        filter_size: int, kernel size of the ST-LSTM convolutions.
        patch_size: int, space-to-depth patch size `p`.
        layer_norm: bool, layer normalisation after the gate convolutions.
        input_length: int, context frames during training and evaluation.
        sampling: "scheduled" (PredRNN), "reverse" (PredRNN-V2) or "none"
            (train as tested: context true, later inputs generated).
        sampling_start_value, sampling_changing_rate, sampling_stop_iter:
            scheduled sampling: `eta = start - rate * itr` until `stop_iter`.
        r_sampling_step_1, r_sampling_step_2, r_exp_alpha: reverse scheduled
            sampling constants (docs/method.md, "Reverse scheduled
            sampling").
        decouple_beta: float, weight of the memory decoupling loss; 0
            disables it (and the adapter).
        reverse_input: bool, add an optimiser step on the reversed sequence.
        forget_bias: float, forget-gate bias.
        unroll: bool or None. None lets the fast paths choose by backend
            and precision (unrolled on JAX, and on TensorFlow under mixed
            precision, with `fast_paths="auto"`); a rolled loop elsewhere.
        seed: int or None, seed of the sampling masks (None: random, then
            stored in the config).
        fast_paths: "auto" (the backend's fast paths: the same numbers,
            computed faster) or "off" (plain Keras ops); see
            `predrnn_keras.backends` and docs/design.md.
        loss: "mse" (mean squared error) or "balanced" (weighted mean
            squared plus mean absolute error; docs/training.md, "Balanced
            loss").
        loss_thresholds: "balanced": strictly increasing values, in the
            frames' units (the model's [0, 1] values), from which a pixel's
            weight rises; empty with "mse".
        loss_weights: "balanced": weights > 0, one more than
            `loss_thresholds`; a pixel whose true value is
            `>= loss_thresholds[k - 1]` (and below `loss_thresholds[k]`)
            weighs `loss_weights[k]`. Empty with "mse".
        residual: bool, predict each frame as the step's input frame plus
            the head's output (`PredRNNCell`); untrained, the model repeats
            its last input frame. False is the paper's network.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`).
            `dtype="mixed_bfloat16"` runs the convolutions in bfloat16 and
            keeps the weights, frames, states, gates, memory updates and
            losses in float32; the model's output is float32 either way.

    Call arguments:
        inputs: frames `(batch, T, height, width, channels)`, or a dict with
            `"frames"` and `"mask"` `(batch, T - 1)` (1 = true frame).
        training: bool.

    Returns:
        Predicted frames `(batch, T - 1, height, width, channels)`: the
        prediction of frames `1 .. T - 1`.

    Example:

    >>> model = PredRNN(num_hidden=[8, 8], filter_size=3, patch_size=2,
    ...                 input_length=3, sampling_stop_iter=10)
    >>> model.compile(optimizer="adam")
    >>> frames = np.random.rand(4, 6, 8, 8, 1).astype("float32")
    >>> model.fit(frames, batch_size=2, epochs=1, verbose=0)
    >>> future = model.predict_future(frames[:, :3], horizon=10)

    Reference:
        Wang et al., "PredRNN: Recurrent Neural Networks for Predictive
        Learning using Spatiotemporal LSTMs", NeurIPS 2017; Wang et al.,
        "PredRNN: A Recurrent Neural Network for Spatiotemporal Predictive
        Learning", TPAMI 2022, arXiv:2103.09504.
    """

    def __init__(
        self,
        num_hidden=(128, 128, 128, 128),
        filter_size=5,
        patch_size=4,
        layer_norm=False,
        input_length=10,
        sampling="scheduled",
        sampling_start_value=1.0,
        sampling_changing_rate=2e-5,
        sampling_stop_iter=50000,
        r_sampling_step_1=25000,
        r_sampling_step_2=50000,
        r_exp_alpha=2500.0,
        decouple_beta=0.0,
        reverse_input=True,
        forget_bias=1.0,
        unroll=None,
        seed=None,
        fast_paths="auto",
        loss="mse",
        loss_thresholds=(),
        loss_weights=(),
        residual=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_training_arguments(
            sampling,
            input_length,
            r_sampling_step_1,
            r_sampling_step_2,
            r_exp_alpha,
            decouple_beta,
        )
        loss_thresholds, loss_weights = check_loss(
            loss, loss_thresholds, loss_weights
        )
        check_patchable(patch_size, patch_size, patch_size)
        self.num_hidden = [int(n) for n in num_hidden]
        self.filter_size = filter_size
        self.patch_size = patch_size
        self.layer_norm = bool(layer_norm)
        self.residual = bool(residual)
        self.input_length = input_length
        self.sampling = sampling
        self.sampling_start_value = float(sampling_start_value)
        self.sampling_changing_rate = float(sampling_changing_rate)
        self.sampling_stop_iter = int(sampling_stop_iter)
        self.r_sampling_step_1 = int(r_sampling_step_1)
        self.r_sampling_step_2 = int(r_sampling_step_2)
        self.r_exp_alpha = float(r_exp_alpha)
        self.decouple_beta = float(decouple_beta)
        self.reverse_input = bool(reverse_input)
        self.forget_bias = float(forget_bias)
        self.unroll = unroll
        self.fast_paths = backends.check_fast_paths(fast_paths)
        # Not `self.loss`: Keras' `compile` owns that attribute.
        self.prediction_loss = loss
        self.loss_thresholds = loss_thresholds
        self.loss_weights = loss_weights
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        self.seed = int(seed)
        self._create_training_state()
        self.frame_shape = None
        self.cell = None
        self.rnn = None

    def _create_training_state(self):
        """The schedule step, the masks' random stream and the trackers of
        the reported losses."""
        self.sampling_step = self.add_weight(
            name="sampling_step",
            shape=(),
            dtype="int32",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
        )
        self.mask_seed_generator = keras.random.SeedGenerator(self.seed)
        self.mse_tracker = keras.metrics.Mean(name="mse")
        self.decouple_tracker = None
        if self.decoupling:
            self.decouple_tracker = keras.metrics.Mean(name="decouple")

    @property
    def decoupling(self):
        return self.decouple_beta > 0

    def schedule_constants(self):
        """The sampling constants, keyed as `schedules` expects them."""
        return {
            "sampling_start_value": self.sampling_start_value,
            "sampling_changing_rate": self.sampling_changing_rate,
            "sampling_stop_iter": self.sampling_stop_iter,
            "r_sampling_step_1": self.r_sampling_step_1,
            "r_sampling_step_2": self.r_sampling_step_2,
            "r_exp_alpha": self.r_exp_alpha,
        }

    def build(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["frames"]
        input_shape = tuple(input_shape)
        if len(input_shape) != 5 or None in input_shape[2:]:
            raise ValueError(
                "Expected frames of shape (batch, time, height, width, "
                "channels) with known height, width and channels. "
                f"Received: shape={input_shape}"
            )
        height, width, channels = input_shape[2:]
        check_patchable(height, width, self.patch_size)
        self.frame_shape = (height, width, channels)
        p = self.patch_size
        self.cell = PredRNNCell(
            self.num_hidden,
            output_channels=p * p * channels,
            filter_size=self.filter_size,
            layer_norm=self.layer_norm,
            decoupling=self.decoupling,
            forget_bias=self.forget_bias,
            residual=self.residual,
            fast_paths=self.fast_paths,
            dtype=self.dtype_policy,
            name="predrnn_cell",
        )
        unroll = self.unroll
        if unroll is None:
            unroll = backends.fast_paths(self.fast_paths).default_unroll(
                self.dtype_policy.compute_dtype
            )
        self.rnn = SpatioTemporalRNN(
            self.cell,
            return_sequences=True,
            return_state=True,
            unroll=unroll,
            dtype=self.dtype_policy,
            name="spatiotemporal_rnn",
        )
        self.rnn.build(
            (None, None, height // p, width // p, p * p * channels + 1)
        )
        self.built = True

    def get_build_config(self):
        if self.frame_shape is None:
            return None
        return {"frame_shape": list(self.frame_shape)}

    def build_from_config(self, config):
        self.build((None, None, *config["frame_shape"]))

    def split_inputs(self, inputs):
        """`(frames, mask)` of the model's inputs (the mask may be None)."""
        if isinstance(inputs, dict):
            unknown = set(inputs) - {"frames", "mask"}
            if unknown or "frames" not in inputs:
                raise ValueError(
                    "Expected inputs as frames or a dict with keys 'frames' "
                    f"and optionally 'mask'. Received keys: {sorted(inputs)}"
                )
            return inputs["frames"], inputs.get("mask")
        return inputs, None

    def call(self, inputs, training=None):
        frames, mask = self.split_inputs(inputs)
        frames = ops.cast(frames, self.variable_dtype)
        if frames.ndim != 5 or tuple(frames.shape[2:]) != self.frame_shape:
            raise ValueError(
                "Expected frames of shape (batch, time) + "
                f"{self.frame_shape}. Received: shape={frames.shape}"
            )
        batch = ops.shape(frames)[0]
        steps = ops.shape(frames)[1] - 1
        if mask is None:
            mask = schedules.test_mask(
                batch, steps, self.input_length, self.variable_dtype
            )
        mask = ops.cast(mask, self.variable_dtype)

        patches = patch_frames(frames[:, :-1], self.patch_size)
        mask_channel = ops.ones_like(patches[..., :1]) * mask[
            :, :, None, None, None
        ]
        outputs, *states = self.rnn(
            ops.concatenate([patches, mask_channel], axis=-1),
            training=training,
        )
        if self.decoupling:
            # Mean over layers, steps and samples of the per-sample sums
            # accumulated by the cell (docs/method.md, "Memory decoupling
            # loss").
            similarity = ops.cast(states[-1], "float32")
            count = ops.cast(steps * len(self.num_hidden), "float32")
            self.add_loss(ops.mean(similarity) / count)
        return unpatch_frames(outputs, self.patch_size)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["frames"]
        steps = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], steps) + tuple(input_shape[2:])

    # Inference ------------------------------------------------------------

    def rollout(self, context, horizon):
        """Predicts `horizon` frames after `context`, as a tensor.

        Backend ops only (usable inside compiled functions and exports).

        Args:
            context: `(batch, context_length, height, width, channels)`.
            horizon: int, number of future frames.

        Returns:
            `(batch, horizon, height, width, channels)`.
        """
        if isinstance(horizon, bool) or not isinstance(horizon, int):
            raise ValueError(
                f"Expected an integer horizon. Received: horizon={horizon!r}"
            )
        if horizon < 1:
            raise ValueError(f"Expected horizon >= 1. Received: {horizon}")
        context = ops.cast(context, self.variable_dtype)
        context_length = context.shape[1]
        if context_length is None or context_length < 1:
            raise ValueError(
                "Expected a context of at least one frame with a known "
                f"length. Received: shape={context.shape}"
            )
        batch = ops.shape(context)[0]
        future = ops.zeros_like(context[:, :1])
        future = ops.repeat(future, horizon, axis=1)
        frames = ops.concatenate([context, future], axis=1)
        mask = schedules.test_mask(
            batch, context_length + horizon - 1, context_length,
            self.variable_dtype,
        )
        predictions = self({"frames": frames, "mask": mask}, training=False)
        return predictions[:, context_length - 1 :]

    def predict_future(self, context, horizon, batch_size=32, verbose=0):
        """Rolls out `horizon` frames after each context sequence.

        The context may have any length (not only `input_length`) and the
        horizon may exceed what the model was trained for: every input after
        the context is the model's own previous prediction.

        Args:
            context: array `(num_sequences, context_length, height, width,
                channels)` with values in [0, 1].
            horizon: int, number of frames to predict.
            batch_size: int, sequences per forward pass.
            verbose: progress bar verbosity of `predict`.

        Returns:
            NumPy array `(num_sequences, horizon, height, width, channels)`.
        """
        context = np.asarray(context, dtype="float32")
        if context.ndim != 5:
            raise ValueError(
                "Expected context of shape (batch, time, height, width, "
                f"channels). Received: shape={context.shape}"
            )
        if isinstance(horizon, bool) or not isinstance(horizon, int):
            raise ValueError(
                f"Expected an integer horizon. Received: horizon={horizon!r}"
            )
        if horizon < 1:
            raise ValueError(f"Expected horizon >= 1. Received: {horizon}")
        num, context_length = context.shape[:2]
        frames = np.concatenate(
            [context, np.zeros((num, horizon) + context.shape[2:], "float32")],
            axis=1,
        )
        mask = np.zeros((num, context_length + horizon - 1), "float32")
        mask[:, :context_length] = 1.0
        predictions = self.predict(
            {"frames": frames, "mask": mask},
            batch_size=batch_size,
            verbose=verbose,
        )
        return np.asarray(predictions)[:, context_length - 1 :]

    def get_config(self):
        return {
            **super().get_config(),
            "num_hidden": list(self.num_hidden),
            "filter_size": self.filter_size,
            "patch_size": self.patch_size,
            "layer_norm": self.layer_norm,
            "input_length": self.input_length,
            "sampling": self.sampling,
            **self.schedule_constants(),
            "decouple_beta": self.decouple_beta,
            "reverse_input": self.reverse_input,
            "forget_bias": self.forget_bias,
            "unroll": self.unroll,
            "seed": self.seed,
            "fast_paths": self.fast_paths,
            "loss": self.prediction_loss,
            "loss_thresholds": list(self.loss_thresholds),
            "loss_weights": list(self.loss_weights),
            "residual": self.residual,
        }

    @classmethod
    def from_preset(cls, name: str):
        """Loads a trained model that ships with the package, by name
        (`predrnn_keras.pretrained.names()`), without network.

        >>> model = PredRNNV2.from_preset("predrnn_v2_moving_mnist")

        Raises:
            ValueError: an unknown name, a damaged file, or a model of
                another class than `cls`.
        """
        model = pretrained.load(name)
        if not isinstance(model, cls):
            raise pretrained.PretrainedError(
                f"{name!r} is a {type(model).__name__}, not a {cls.__name__}: "
                f"load it with {type(model).__name__}.from_preset."
            )
        return model


def _check_training_arguments(
    sampling,
    input_length,
    r_sampling_step_1,
    r_sampling_step_2,
    r_exp_alpha,
    decouple_beta,
):
    """Raises a `ValueError` for a `PredRNN` argument of the training
    schedule or the losses that is out of range."""
    if sampling not in schedules.SAMPLING_MODES:
        raise ValueError(
            f"Expected `sampling` in {schedules.SAMPLING_MODES}. "
            f"Received: sampling={sampling!r}"
        )
    if (
        isinstance(input_length, bool)
        or not isinstance(input_length, int)
        or input_length < 1
    ):
        raise ValueError(
            "Expected `input_length` to be a positive integer. "
            f"Received: input_length={input_length!r}"
        )
    if not r_sampling_step_1 < r_sampling_step_2:
        raise ValueError(
            "Expected r_sampling_step_1 < r_sampling_step_2. Received: "
            f"r_sampling_step_1={r_sampling_step_1}, "
            f"r_sampling_step_2={r_sampling_step_2}"
        )
    if r_exp_alpha <= 0:
        raise ValueError(
            f"Expected r_exp_alpha > 0. Received: r_exp_alpha={r_exp_alpha}"
        )
    if decouple_beta < 0:
        raise ValueError(
            "Expected decouple_beta >= 0. "
            f"Received: decouple_beta={decouple_beta}"
        )
