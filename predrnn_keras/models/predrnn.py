"""The PredRNN model: patching, the recurrent stack, sampling and losses."""

import random

import keras
import numpy as np
from keras import ops

from predrnn_keras.layers.patching import check_patchable
from predrnn_keras.layers.patching import patch_frames
from predrnn_keras.layers.patching import unpatch_frames
from predrnn_keras.layers.precision import Float32Recurrence
from predrnn_keras.layers.predrnn_cell import PredRNNCell
from predrnn_keras.layers.spatiotemporal_rnn import SpatioTemporalRNN
from predrnn_keras.models import replicas
from predrnn_keras.models import schedules


def default_unroll(backend, compute_dtype):
    """Whether `PredRNN(unroll=None)` unrolls its time loop.

    Chosen by measuring the training step (`benchmarks/bench_train_step.py
    --unroll true,false`) on CPU:

    - JAX: unrolled. Rolled loops under XLA are 25-40x slower on CPU
      (`../shared/KERAS_NOTES.md`).
    - TensorFlow, bfloat16 compute ("mixed_bfloat16"): unrolled. On a CPU
      with AMX the paper configuration's step was 1.06x faster (two
      alternated rounds: 3,982 against 4,229 ms) for about 310 MiB more
      peak memory, the small one's 1.10x (277 against 305 ms); inference
      moved within noise.
    - TensorFlow, float32: rolled (`tf.while_loop`). Unrolled was 1.14x
      slower on an AVX-512 CPU without AMX, and 1.04x faster on the AMX
      CPU for 1.2 GiB more peak memory (3,639 against 2,447 MiB) at the
      paper configuration, above the reference's.
    - PyTorch: rolled; its loop is eager Python either way, and unrolled was
      1.12x slower.

    An unrolled loop needs the number of frames when the model is traced.
    Where it is unknown (a TensorFlow graph with a `None` time dimension, as
    `evaluate.py` traces), `SpatioTemporalRNN` runs a rolled loop for that
    call.
    """
    if backend == "jax":
        return True
    return backend == "tensorflow" and compute_dtype == "bfloat16"


@keras.saving.register_keras_serializable(package="predrnn_keras")
class PredRNN(Float32Recurrence, keras.Model):
    """PredRNN: spatiotemporal LSTMs with a zigzag memory, as a Keras Model.

    Given a sequence of `T` frames, the model runs `T - 1` recurrent steps and
    predicts frame `t + 1` at every step `t`. Frames are patched
    (space-to-depth, `patch_size`) before the ST-LSTM stack and unpatched
    after it. The input of step `t` is the true frame where the 0/1 mask is 1
    and the model's own previous prediction where it is 0.

    Training (`fit`) draws the mask from the sampling schedule in
    `train_step`: PredRNN's scheduled sampling (`sampling="scheduled"`) or
    PredRNN-V2's reverse scheduled sampling (`sampling="reverse"`). The
    schedule step is the model variable `sampling_step`, so it is saved in
    checkpoints and `.keras` files and continues after a reload; the random
    numbers of the mask are a pure function of `(seed, sampling_step)`, so a
    resumed run draws the same masks as an uninterrupted one. With
    `reverse_input=True` each iteration makes a second optimiser step on the
    time-reversed batch with the same mask, and the reported losses are the
    mean of the two steps.

    The loss is the mean squared error between the `T - 1` predictions and
    frames `1 .. T - 1` plus, when `decouple_beta > 0`, `decouple_beta` times
    the memory decoupling loss of PredRNN-V2. `fit` reports `loss`, `mse` and
    (with decoupling) `decouple`.

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
            sampling constants (SPEC section 3).
        decouple_beta: float, weight of the memory decoupling loss; 0
            disables it (and the adapter).
        reverse_input: bool, add an optimiser step on the reversed sequence.
        forget_bias: float, forget-gate bias.
        unroll: bool or None. None picks by backend and precision
            (`default_unroll`): unrolled on JAX, and on TensorFlow under
            mixed precision; a rolled loop elsewhere.
        seed: int or None, seed of the sampling masks (None: random, then
            stored in the config).
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if sampling not in schedules.SAMPLING_MODES:
            raise ValueError(
                f"Expected `sampling` in {schedules.SAMPLING_MODES}. "
                f"Received: sampling={sampling!r}"
            )
        if isinstance(input_length, bool) or not isinstance(
            input_length, int
        ) or input_length < 1:
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
        check_patchable(patch_size, patch_size, patch_size)
        self.num_hidden = [int(n) for n in num_hidden]
        self.filter_size = filter_size
        self.patch_size = patch_size
        self.layer_norm = bool(layer_norm)
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
        if seed is None:
            seed = random.randint(0, 2**31 - 1)
        self.seed = int(seed)

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
        self.frame_shape = None
        self.cell = None
        self.rnn = None

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
            dtype=self.dtype_policy,
            name="predrnn_cell",
        )
        unroll = self.unroll
        if unroll is None:
            unroll = default_unroll(
                keras.backend.backend(), self.dtype_policy.compute_dtype
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

    def _split_inputs(self, inputs):
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
        frames, mask = self._split_inputs(inputs)
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
            # accumulated by the cell: SPEC section 3's decoupling loss.
            similarity = ops.cast(states[-1], "float32")
            count = ops.cast(steps * len(self.num_hidden), "float32")
            self.add_loss(ops.mean(similarity) / count)
        return unpatch_frames(outputs, self.patch_size)

    def compute_output_shape(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape["frames"]
        steps = None if input_shape[1] is None else input_shape[1] - 1
        return (input_shape[0], steps) + tuple(input_shape[2:])

    # Training -----------------------------------------------------------

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        frames, _ = self._split_inputs(x)
        target = ops.cast(frames[:, 1:], "float32")
        mse = ops.mean(ops.square(ops.cast(y_pred, "float32") - target))
        batch = ops.shape(frames)[0]
        self.mse_tracker.update_state(mse, sample_weight=batch)
        loss = mse
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
        replicas_in_sync = replicas.num_replicas_in_sync()
        if replicas_in_sync > 1:
            loss = loss / replicas_in_sync
        return loss

    def _next_training_mask(self, frames):
        """Draws this iteration's mask and advances `sampling_step`."""
        step = ops.copy(self.sampling_step)
        self.sampling_step.assign_add(1)
        batch = ops.shape(frames)[0]
        steps = ops.shape(frames)[1] - 1
        # Seeding the stream with (seed, step) makes the mask of iteration
        # `step` independent of how the run was interrupted and resumed.
        state = self.mask_seed_generator.state
        state.assign(
            ops.cast(ops.stack([ops.cast(self.seed, "int32"), step]), state.dtype)
        )
        # Under tf.distribute each replica holds one slice of the global
        # batch and the same random stream: draw the global batch's numbers
        # and keep this replica's rows, so replicas get different masks and
        # the masks equal those of one device on the same global batch.
        replica, num_replicas = replicas.replica_position()
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

    def _training_batches(self, data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        frames, _ = self._split_inputs(x)
        return frames

    def train_step(self, *args):
        if keras.backend.backend() == "jax":
            return self._stateless_train_step(*args)
        (data,) = args
        frames = self._training_batches(data)
        mask = self._next_training_mask(frames)
        logs = super().train_step(({"frames": frames, "mask": mask},))
        if self.reverse_input:
            reversed_frames = ops.flip(frames, axis=1)
            logs = super().train_step(
                ({"frames": reversed_frames, "mask": mask},)
            )
        return replicas.logs_for_reduction(logs)

    def test_step(self, *args):
        if keras.backend.backend() == "jax":
            return super().test_step(*args)
        return replicas.logs_for_reduction(super().test_step(*args))

    def _stateless_train_step(self, state, data):
        # JAX: train_step is a pure function of `state`. The mask code reads
        # and advances model variables (sampling_step, the seed generator),
        # so it runs in a StatelessScope mapped onto the non-trainable values
        # of `state`, whose new values go back into `state`.
        trainable, non_trainable, optimizer_vars, metrics_vars = state
        frames = self._training_batches(data)
        mapping = list(zip(self.non_trainable_variables, non_trainable))
        with keras.StatelessScope(state_mapping=mapping) as scope:
            mask = self._next_training_mask(frames)
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
        }
