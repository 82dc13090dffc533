"""The recurrent cell that owns the whole ST-LSTM stack.

docs/method.md, "Zigzag memory flow" and "Memory decoupling loss".
"""

import keras
from keras import ops

from predrnn_keras import backends
from predrnn_keras.layers.conv import FeatureMapConv2D
from predrnn_keras.layers.precision import Float32Recurrence
from predrnn_keras.layers.spatiotemporal_lstm import SpatioTemporalLSTM
from predrnn_keras.layers.spatiotemporal_lstm import _positive_int


def decoupling_similarity(delta_c, delta_m):
    """Mean absolute cosine similarity of two memory increments, per sample.

    Both inputs are `(batch, height, width, channels)` (after the shared
    adapter). Each channel is flattened over space and L2-normalised along the
    spatial axis; the absolute cosine similarity of the two is averaged over
    the channels (docs/method.md, "Memory decoupling loss"). Computed in
    float32.

    Returns:
        A `(batch,)` tensor.
    """
    height, width, channels = delta_c.shape[1:]

    def normalise(x):
        x = ops.reshape(ops.cast(x, "float32"), (-1, height * width, channels))
        # sqrt(max(|x|^2, eps^2)) is torch's F.normalize clamp (eps 1e-12)
        # with a finite gradient at zero.
        norm = ops.sqrt(
            ops.maximum(ops.sum(ops.square(x), axis=1, keepdims=True), 1e-24)
        )
        return x / norm

    cosine = ops.sum(normalise(delta_c) * normalise(delta_m), axis=1)
    return ops.mean(ops.abs(cosine), axis=-1)


@keras.saving.register_keras_serializable(package="predrnn_keras")
class PredRNNCell(Float32Recurrence, keras.layers.Layer):
    """A stack of ST-LSTM layers threading one spatiotemporal memory.

    One call of the cell is one time step of PredRNN: the step input is a
    blend of the true frame and the cell's own previous prediction,
    `mask * frame + (1 - mask) * prediction`, which enters
    layer 0; layer `l > 0` takes the new hidden state of layer `l - 1`. Each
    layer keeps its own `h` and `c`; the single memory `m` leaves the top layer
    at step `t - 1`, enters layer 0 at step `t` and climbs the stack (the
    zigzag memory flow). A 1x1 convolution ("head") maps the top
    hidden state to the predicted (patched) frame.

    With `decoupling=True` (PredRNN-V2) a shared 1x1 "adapter" is applied to
    the memory increments of every layer, and the mean absolute cosine
    similarity of the two adapted increments is accumulated per sample in the
    last state; the model turns it into the memory decoupling loss.

    The cell follows the Keras RNN cell protocol and is driven over time by
    `SpatioTemporalRNN` (a `keras.layers.RNN`).

    Args:
        num_hidden: list of ints, hidden channels of each layer. They must be
            equal because the memory `m` passes from layer to layer.
        output_channels: int, channels of the (patched) frames, `p * p * C`.
        filter_size: int, kernel size of the ST-LSTM convolutions.
        layer_norm: bool, layer normalisation after the gate convolutions.
        decoupling: bool, whether to build the adapter and accumulate the
            decoupling similarity.
        forget_bias: float, the forget-gate bias of every layer.
        fast_paths: "auto" (the backend's fast paths) or "off" (plain
            Keras ops); see `predrnn_keras.backends`.
        residual: bool, the prediction is the step input plus the head's
            output, whose kernel starts at zero: untrained, the cell
            repeats its input frame (persistence), and training learns the
            change from frame to frame.
        **kwargs: base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: `(batch, height, width, output_channels + 1)`: the patched
            true frame with the 0/1 mask as its last channel (constant over
            space).
        states: the list described by `state_size`, in this order: `h` of
            each layer, `c` of each layer, `m`, the previous prediction, the
            accumulated decoupling similarity `(batch,)`.
        training: unused; accepted for the RNN protocol.
        kernels: the `PreparedKernels` that `SpatioTemporalRNN` prepares
            for the sequence (`FastPaths.prepare_kernels`), or None to
            prepare every kernel in this step.

    Returns:
        `(prediction, new_states)`.

    Reference:
        Wang et al., PredRNN, NeurIPS 2017; Wang et al., PredRNN-V2, TPAMI
        2022, arXiv:2103.09504.
    """

    def __init__(
        self,
        num_hidden,
        output_channels,
        filter_size=5,
        layer_norm=False,
        decoupling=False,
        forget_bias=1.0,
        fast_paths="auto",
        residual=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(num_hidden, int) or not num_hidden:
            raise ValueError(
                "Expected `num_hidden` to be a non-empty list of positive "
                f"integers. Received: num_hidden={num_hidden!r}"
            )
        num_hidden = [_positive_int("num_hidden", n) for n in num_hidden]
        if len(set(num_hidden)) != 1:
            raise ValueError(
                "Expected equal hidden sizes in all layers: the "
                "spatiotemporal memory passes from layer to layer. "
                f"Received: num_hidden={num_hidden}"
            )
        self.num_hidden = num_hidden
        self.output_channels = _positive_int(
            "output_channels", output_channels
        )
        self.filter_size = _positive_int("filter_size", filter_size)
        self.layer_norm = bool(layer_norm)
        self.decoupling = bool(decoupling)
        self.forget_bias = float(forget_bias)
        self.residual = bool(residual)
        self.fast_paths = backends.check_fast_paths(fast_paths)
        self.num_layers = len(num_hidden)
        self.st_lstm_layers = [
            SpatioTemporalLSTM(
                filters,
                filter_size=self.filter_size,
                layer_norm=self.layer_norm,
                forget_bias=self.forget_bias,
                fast_paths=self.fast_paths,
                dtype=self.dtype_policy,
                name=f"st_lstm_{index}",
            )
            for index, filters in enumerate(num_hidden)
        ]
        self.head = FeatureMapConv2D(
            self.output_channels,
            1,
            use_bias=False,
            kernel_initializer="zeros" if self.residual else "glorot_uniform",
            fast_paths=self.fast_paths,
            dtype=self.dtype_policy,
            name="head",
        )
        self.adapter = None
        if self.decoupling:
            self.adapter = FeatureMapConv2D(
                num_hidden[0],
                1,
                use_bias=False,
                fast_paths=self.fast_paths,
                dtype=self.dtype_policy,
                name="adapter",
            )
        hidden = num_hidden[0]
        # Channels of each state; height and width are the step input's.
        self.state_size = (
            [hidden] * (2 * self.num_layers)
            + [hidden, self.output_channels, 1]
        )
        self.output_size = self.output_channels
        self.spatial_shape = None

    def build(self, input_shape):
        if len(input_shape) != 4 or None in input_shape[1:]:
            raise ValueError(
                "Expected a step input of shape (batch, height, width, "
                "channels) with known height, width and channels. "
                f"Received: input_shape={input_shape}"
            )
        if input_shape[-1] != self.output_channels + 1:
            raise ValueError(
                f"Expected {self.output_channels + 1} input channels (the "
                "patched frame and the mask). "
                f"Received: input_shape={input_shape}"
            )
        batch, height, width = input_shape[:3]
        self.spatial_shape = (height, width)
        channels = self.output_channels
        for layer, filters in zip(self.st_lstm_layers, self.num_hidden):
            state = (batch, height, width, filters)
            layer.build((batch, height, width, channels), state, state, state)
            channels = filters
        hidden_shape = (batch, height, width, self.num_hidden[-1])
        self.head.build(hidden_shape)
        if self.adapter is not None:
            self.adapter.build(hidden_shape)

    def convolutions(self):
        """The cell's `FeatureMapConv2D` layers, in every ST-LSTM and after."""
        return self._with_head(
            layer.convolutions() for layer in self.st_lstm_layers
        )

    def step_convolutions(self):
        """The convolutions one step runs, which `SpatioTemporalRNN`
        prepares once per sequence (`FastPaths.prepare_kernels`).

        Each ST-LSTM's `step_convolutions()`, then the head and the adapter.
        """
        return self._with_head(
            layer.step_convolutions() for layer in self.st_lstm_layers
        )

    def _with_head(self, per_layer):
        """The ST-LSTMs' convolutions, flattened, then head and adapter."""
        convolutions = [conv for layer in per_layer for conv in layer]
        convolutions.append(self.head)
        if self.adapter is not None:
            convolutions.append(self.adapter)
        return convolutions

    def get_initial_state(self, batch_size=None):
        height, width = self.spatial_shape
        dtype = self.variable_dtype
        states = [
            ops.zeros((batch_size, height, width, n), dtype=dtype)
            for n in self.state_size[:-1]
        ]
        return states + [ops.zeros((batch_size,), dtype=dtype)]

    def call(self, inputs, states, training=False, kernels=None):
        num_layers = self.num_layers
        hidden = list(states[:num_layers])
        cell = list(states[num_layers : 2 * num_layers])
        memory, previous, similarity = states[2 * num_layers :]

        inputs = ops.cast(inputs, self.variable_dtype)
        frame, mask = inputs[..., :-1], inputs[..., -1:]
        x = mask * frame + (1.0 - mask) * previous
        step_input = x
        for index, layer in enumerate(self.st_lstm_layers):
            # Built in `build`: `call` skips `Layer.__call__`'s per-call
            # work, which PyTorch's eager loop would pay at every step.
            hidden[index], cell[index], memory, delta_c, delta_m = layer.call(
                x, hidden[index], cell[index], memory, kernels=kernels
            )
            if self.adapter is not None:
                similarity = similarity + ops.cast(
                    decoupling_similarity(
                        self.adapter.convolve(delta_c, kernels),
                        self.adapter.convolve(delta_m, kernels),
                    ),
                    similarity.dtype,
                )
            x = hidden[index]
        prediction = self.head.convolve(x, kernels)
        prediction = ops.cast(prediction, self.variable_dtype)
        if self.residual:
            prediction = step_input + prediction
        return prediction, [*hidden, *cell, memory, prediction, similarity]

    def get_config(self):
        return {
            **super().get_config(),
            "num_hidden": list(self.num_hidden),
            "output_channels": self.output_channels,
            "filter_size": self.filter_size,
            "layer_norm": self.layer_norm,
            "decoupling": self.decoupling,
            "forget_bias": self.forget_bias,
            "fast_paths": self.fast_paths,
            "residual": self.residual,
        }
