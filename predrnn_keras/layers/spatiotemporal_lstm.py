"""One spatiotemporal LSTM (ST-LSTM) layer (docs/method.md, "ST-LSTM")."""

import keras
from keras import ops

from predrnn_keras import backends
from predrnn_keras.layers.conv import FeatureMapConv2D
from predrnn_keras.layers.conv import StackedConvolution
from predrnn_keras.layers.gate_layout import GATES
from predrnn_keras.layers.gate_layout import SPATIOTEMPORAL_GATES
from predrnn_keras.layers.gate_layout import TEMPORAL_GATES
from predrnn_keras.layers.gate_layout import channel_ranges
from predrnn_keras.layers.gate_layout import output_channels
from predrnn_keras.layers.precision import Float32Recurrence


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Expected `{name}` to be a positive integer. "
            f"Received: {name}={value!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="predrnn_keras")
class SpatioTemporalLSTM(Float32Recurrence, keras.layers.Layer):
    """One spatiotemporal LSTM layer (the cell of PredRNN and PredRNN-V2).

    The layer updates two memories at once: the temporal memory `c`, private
    to the layer and carried from one time step to the next, and the
    spatiotemporal memory `m`, which arrives from the layer below (or from the
    top layer at the previous step) and leaves towards the layer above. The
    gates are computed by bias-free "same" convolutions of the input `x`, the
    hidden state `h` and the memory `m`; the forget gates carry a constant
    bias (1.0 in the reference). Optionally each of the four gate convolutions
    is followed by a layer normalisation over (height, width, channels) of each
    sample, with a scale and an offset of that full shape.

    Besides the new states the layer returns the memory increments
    `delta_c = i * g` and `delta_m = i' * g'`, on which PredRNN-V2's memory
    decoupling loss is computed.

    Args:
        filters: int, the number of hidden channels `N` of `h`, `c` and `m`.
        filter_size: int, the kernel size of the gate convolutions and of
            `conv_o` (5 in the reference recipes). `conv_last` is 1x1.
        layer_norm: bool, whether each gate convolution is followed by a
            layer normalisation over (height, width, channels).
        forget_bias: float, added to both forget gates before the sigmoid.
        layer_norm_epsilon: float, epsilon of the layer normalisations
            (1e-5, the value of the reference checkpoints).
        fast_paths: "auto" (the backend's fast paths) or "off" (plain
            Keras ops); see `predrnn_keras.backends`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: the layer input, `(batch, height, width, input_channels)`.
        h: this layer's hidden state from the previous step,
            `(batch, height, width, filters)`.
        c: this layer's temporal memory from the previous step, same shape.
        m: the spatiotemporal memory arriving along the zigzag path, same
            shape.
        kernels: the `PreparedKernels` of the sequence in progress, which
            the RNN prepares once for all steps
            (`FastPaths.prepare_kernels`); None prepares each kernel in
            this call.

    Returns:
        A tuple `(h_new, c_new, m_new, delta_c, delta_m)`, each of shape
        `(batch, height, width, filters)`, in the variable dtype of the
        layer's policy: under `"mixed_bfloat16"` the convolutions run in
        bfloat16 and everything else, the memory updates included, in
        float32.

    Example:

    >>> layer = SpatioTemporalLSTM(filters=8, filter_size=3)
    >>> x = np.zeros((2, 16, 16, 4), "float32")
    >>> h = c = m = np.zeros((2, 16, 16, 8), "float32")
    >>> h, c, m, delta_c, delta_m = layer(x, h, c, m)

    Reference:
        Wang et al., PredRNN (the ST-LSTM), NeurIPS 2017; Wang et al.,
        PredRNN-V2 (the memory increments), TPAMI 2022, arXiv:2103.09504.
    """

    def __init__(
        self,
        filters,
        filter_size=5,
        layer_norm=False,
        forget_bias=1.0,
        layer_norm_epsilon=1e-5,
        fast_paths="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.filter_size = _positive_int("filter_size", filter_size)
        self.layer_norm = bool(layer_norm)
        self.forget_bias = float(forget_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.fast_paths = backends.check_fast_paths(fast_paths)
        self.paths = backends.fast_paths(fast_paths)

        def conv(name, channels, kernel):
            return FeatureMapConv2D(
                channels,
                kernel,
                padding="same",
                use_bias=False,
                fast_paths=self.fast_paths,
                dtype=self.dtype_policy,
                name=name,
            )

        n, k = self.filters, self.filter_size
        # Which channels hold which gate: `gate_layout`.
        self.conv_x = conv("conv_x", output_channels("conv_x", n), k)
        self.conv_h = conv("conv_h", output_channels("conv_h", n), k)
        self.conv_m = conv("conv_m", output_channels("conv_m", n), k)
        self.conv_o = conv("conv_o", n, k)
        self.conv_last = conv("conv_last", n, 1)

        def norm(name):
            if not self.layer_norm:
                return None
            # Statistics over (height, width, channels) of each sample with
            # element-wise scale and offset: torch.nn.LayerNorm's layout.
            # Element-wise work stays in the state dtype (float32 under
            # mixed precision), like the gates.
            return keras.layers.LayerNormalization(
                axis=(-3, -2, -1),
                epsilon=self.layer_norm_epsilon,
                dtype=self.variable_dtype,
                name=name,
            )

        self.norm_x = norm("norm_x")
        self.norm_h = norm("norm_h")
        self.norm_m = norm("norm_m")
        self.norm_o = norm("norm_o")
        self.supports_masking = False
        # Without layer normalisation the gates sum their convolutions of
        # x, h and m before anything else: i, f, g and o read conv_x and
        # conv_h, i', f' and g' read conv_x and conv_m. Each sum is one
        # convolution of the stacked inputs (`StackedConvolution`); the
        # weights stay those of conv_x, conv_h and conv_m.
        self.gates_xh = StackedConvolution(
            [
                (self.conv_x, channel_ranges("conv_x", TEMPORAL_GATES, n)),
                (self.conv_h, channel_ranges("conv_h", TEMPORAL_GATES, n)),
            ]
        )
        self.gates_xm = StackedConvolution(
            [
                (self.conv_x, channel_ranges("conv_x", SPATIOTEMPORAL_GATES, n)),
                (self.conv_m, channel_ranges("conv_m", SPATIOTEMPORAL_GATES, n)),
            ]
        )

    def build(self, x_shape, h_shape=None, c_shape=None, m_shape=None):
        if len(x_shape) != 4:
            raise ValueError(
                "Expected `x` of rank 4 (batch, height, width, channels). "
                f"Received: x.shape={x_shape}"
            )
        if x_shape[-1] is None:
            raise ValueError(
                "The channel dimension of `x` must be known. "
                f"Received: x.shape={x_shape}"
            )
        for name, shape in (("h", h_shape), ("c", c_shape), ("m", m_shape)):
            if shape is not None and shape[-1] != self.filters:
                raise ValueError(
                    f"Expected `{name}` with {self.filters} channels. "
                    f"Received: {name}.shape={shape}"
                )
        if self.layer_norm and (x_shape[1] is None or x_shape[2] is None):
            raise ValueError(
                "layer_norm=True needs a known height and width: its scale "
                f"and offset have the full (height, width, channels) shape. "
                f"Received: x.shape={x_shape}"
            )
        batch, height, width = x_shape[0], x_shape[1], x_shape[2]
        state_shape = (batch, height, width, self.filters)
        memory_shape = (batch, height, width, 2 * self.filters)
        self.conv_x.build(x_shape)
        self.conv_h.build(state_shape)
        self.conv_m.build(state_shape)
        self.conv_o.build(memory_shape)
        self.conv_last.build(memory_shape)
        if self.layer_norm:
            for name, norm in (
                ("conv_x", self.norm_x),
                ("conv_h", self.norm_h),
                ("conv_m", self.norm_m),
            ):
                channels = output_channels(name, self.filters)
                norm.build((batch, height, width, channels))
            self.norm_o.build(state_shape)

    def _gate(self, conv, norm, inputs, kernels):
        # The sublayers are built in `build`; `convolve` and `norm.call`
        # skip `Layer.__call__`'s per-call work (see `convolve`).
        outputs = ops.cast(conv.convolve(inputs, kernels), self.variable_dtype)
        return outputs if norm is None else norm.call(outputs)

    def step_convolutions(self):
        """The convolutions that `call` runs, as `prepare_kernels` takes them.

        `[gates_xh, gates_xm, conv_o, conv_last]` where the gate
        convolutions are stacked (`stacks_gate_convolutions`), else the
        five `FeatureMapConv2D` layers.
        """
        if self.stacks_gate_convolutions():
            return [self.gates_xh, self.gates_xm, self.conv_o, self.conv_last]
        return self.convolutions()

    def convolutions(self):
        """The layer's five `FeatureMapConv2D` layers."""
        return [
            self.conv_x, self.conv_h, self.conv_m, self.conv_o, self.conv_last
        ]

    def stacks_gate_convolutions(self):
        """Whether `call` sums the gate convolutions as two stacked ones.

        A fast path (`StackedConvolution`): the same multiply-adds as three
        separate convolutions, in two with longer reductions. Not with
        layer normalisation, which normalises each convolution before the
        sum.
        """
        return self.paths.stacks_gate_convolutions and not self.layer_norm

    def _gate_sums(self, x, h, m, kernels):
        """`{gate: pre-activation}` of i, f, g, o (without conv_o) and
        i', f', g' (`i_m`, `f_m`, `g_m`)."""
        if self.stacks_gate_convolutions():
            variable_dtype = self.variable_dtype
            dtype = self.conv_x.compute_dtype
            # Each input cast once for the two stacked convolutions.
            x, h, m = (ops.cast(t, dtype) for t in (x, h, m))
            xh = self.gates_xh.convolve([x, h], kernels)
            xm = self.gates_xm.convolve([x, m], kernels)
            xh, xm = ops.cast(xh, variable_dtype), ops.cast(xm, variable_dtype)
            return {
                **_split_gates(xh, TEMPORAL_GATES),
                **_split_gates(xm, SPATIOTEMPORAL_GATES),
            }
        sums = {}
        for name, conv, norm, inputs in (
            ("conv_x", self.conv_x, self.norm_x, x),
            ("conv_h", self.conv_h, self.norm_h, h),
            ("conv_m", self.conv_m, self.norm_m, m),
        ):
            outputs = self._gate(conv, norm, inputs, kernels)
            gates = _split_gates(outputs, GATES[name])
            for gate, value in gates.items():
                sums[gate] = sums[gate] + value if gate in sums else value
        return sums

    def call(self, x, h, c, m, kernels=None):
        # An identity that may keep a compiler from recomputing the
        # memories' gradient chains in every gate (JAX's fast path).
        c, m = self.paths.fusion_fence(c), self.paths.fusion_fence(m)
        gates = self._gate_sums(x, h, m, kernels)

        # The temporal memory c.
        i = ops.sigmoid(gates["i"])
        f = ops.sigmoid(gates["f"] + self.forget_bias)
        g = ops.tanh(gates["g"])
        delta_c = i * g
        c_new = f * c + delta_c

        # The spatiotemporal memory m, with its own gates i', f', g'.
        i_m = ops.sigmoid(gates["i_m"])
        f_m = ops.sigmoid(gates["f_m"] + self.forget_bias)
        g_m = ops.tanh(gates["g_m"])
        delta_m = i_m * g_m
        m_new = f_m * m + delta_m

        # The output gate and the hidden state read both memories. Cast
        # once for the two convolutions that read them.
        memory = ops.cast(
            ops.concatenate([c_new, m_new], axis=-1),
            self.conv_o.compute_dtype,
        )
        o = ops.sigmoid(
            gates["o"] + self._gate(self.conv_o, self.norm_o, memory, kernels)
        )
        last = self.conv_last.convolve(memory, kernels)
        last = ops.cast(last, self.variable_dtype)
        h_new = o * ops.tanh(last)
        return h_new, c_new, m_new, delta_c, delta_m

    def compute_output_shape(
        self, x_shape, h_shape=None, c_shape=None, m_shape=None
    ):
        shape = tuple(x_shape[:-1]) + (self.filters,)
        return (shape,) * 5

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "filter_size": self.filter_size,
            "layer_norm": self.layer_norm,
            "forget_bias": self.forget_bias,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "fast_paths": self.fast_paths,
        }


def _split_gates(tensor, gates):
    """`{gate: channels}` of a tensor holding `gates` side by side."""
    return dict(zip(gates, ops.split(tensor, len(gates), axis=-1)))
