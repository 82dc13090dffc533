"""One spatiotemporal LSTM (ST-LSTM) layer: SPEC section 1."""

import keras
from keras import ops

from predrnn_keras.layers.conv import FeatureMapConv2D
from predrnn_keras.layers.conv import StackedConvolution
from predrnn_keras.layers.fusion import fusion_fence
from predrnn_keras.layers.precision import Float32Recurrence


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"Expected `{name}` to be a positive integer. "
            f"Received: {name}={value!r}"
        )
    return value


# The backends on which layers without layer normalisation stack their gate
# convolutions (`SpatioTemporalLSTM.stacks_gate_convolutions`); tests and
# A/B measurements change it.
STACKED_GATE_BACKENDS = ("tensorflow", "torch", "jax")


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
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        x: the layer input, `(batch, height, width, input_channels)`.
        h: this layer's hidden state from the previous step,
            `(batch, height, width, filters)`.
        c: this layer's temporal memory from the previous step, same shape.
        m: the spatiotemporal memory arriving along the zigzag path, same
            shape.

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
        Wang et al., "PredRNN: Recurrent Neural Networks for Predictive
        Learning using Spatiotemporal LSTMs", NeurIPS 2017; Wang et al.,
        "PredRNN: A Recurrent Neural Network for Spatiotemporal Predictive
        Learning", TPAMI 2022, arXiv:2103.09504.
    """

    def __init__(
        self,
        filters,
        filter_size=5,
        layer_norm=False,
        forget_bias=1.0,
        layer_norm_epsilon=1e-5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_int("filters", filters)
        self.filter_size = _positive_int("filter_size", filter_size)
        self.layer_norm = bool(layer_norm)
        self.forget_bias = float(forget_bias)
        self.layer_norm_epsilon = float(layer_norm_epsilon)

        def conv(name, channels, kernel):
            return FeatureMapConv2D(
                channels,
                kernel,
                padding="same",
                use_bias=False,
                dtype=self.dtype_policy,
                name=name,
            )

        n, k = self.filters, self.filter_size
        # Gate order inside each convolution is fixed by SPEC section 1 and by
        # the reference checkpoints: do not reorder.
        self.conv_x = conv("conv_x", 7 * n, k)
        self.conv_h = conv("conv_h", 4 * n, k)
        self.conv_m = conv("conv_m", 3 * n, k)
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
            [(self.conv_x, [(0, 3 * n), (6 * n, 7 * n)]), (self.conv_h, None)]
        )
        self.gates_xm = StackedConvolution(
            [(self.conv_x, [(3 * n, 6 * n)]), (self.conv_m, None)]
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
            n = self.filters
            self.norm_x.build((batch, height, width, 7 * n))
            self.norm_h.build((batch, height, width, 4 * n))
            self.norm_m.build((batch, height, width, 3 * n))
            self.norm_o.build(state_shape)

    def _gate(self, conv, norm, inputs):
        # The sublayers are built in `build`; `convolve` and `norm.call`
        # skip `Layer.__call__`'s per-call work (see `convolve`).
        outputs = ops.cast(conv.convolve(inputs), self.variable_dtype)
        return outputs if norm is None else norm.call(outputs)

    def step_convolutions(self):
        """The convolutions that `call` runs, as `reusing_kernels` takes them.

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

        Not with layer normalisation, which normalises each convolution
        before the sum. The multiply-adds are the same; there are two
        convolutions instead of three, each with twice the input channels
        (a longer reduction, which CPU kernels run more efficiently), and no
        separate additions or splits of three gate tensors. Measured on a
        CPU with AMX (`benchmarks/bench_train_step.py` shapes, one session):

        - TensorFlow and PyTorch: yes. Small configuration training step,
          two A/B pairs each: float32 1.05x (TensorFlow) and 1.09x
          (PyTorch) faster, mixed_bfloat16 1.20x and 1.10x. Paper
          configuration: TensorFlow float32 19,064 -> 17,656 ms (1.08x),
          for about 580 MiB more peak memory (3,028 against 2,449 MiB),
          which keeping the inputs unstacked for the backward pass then
          cut (`StackedConvolution.convolve`: 15,302 -> 13,881 ms, 2,431
          against 2,591 MiB in a later session); mixed_bfloat16 3,987 ->
          3,863 ms, memory level; PyTorch mixed_bfloat16 4,556 -> 4,208 ms
          (1.08x), less memory.
        - JAX: yes, with each stacked kernel assembled once per sequence
          (`reusing_kernels`). Assembled at every step instead, the paper
          float32 step took 23.6 s against about 21 s unstacked, with 4.6
          GiB of peak memory against 2.8. Assembled once (two A/B pairs
          each, one session): small configuration training step float32
          818 / 841 -> 671 / 690 ms (1.2x), mixed_bfloat16 746 / 739 ->
          696 / 678 ms; paper float32 18,067 / 17,272 -> 16,806 / 16,727
          ms, peak memory level (2,775-2,836 against 2,780-2,795 MiB);
          inference level at both.
        """
        return (
            keras.backend.backend() in STACKED_GATE_BACKENDS
            and not self.layer_norm
        )

    def _gate_sums(self, x, h, m):
        """The pre-activations of i, f, g, o (without conv_o) and i', f', g'."""
        if self.stacks_gate_convolutions():
            variable_dtype = self.variable_dtype
            dtype = self.conv_x.compute_dtype
            # Each input cast once for the two stacked convolutions.
            x, h, m = (ops.cast(t, dtype) for t in (x, h, m))
            xh = ops.cast(self.gates_xh.convolve([x, h]), variable_dtype)
            xm = ops.cast(self.gates_xm.convolve([x, m]), variable_dtype)
            return ops.split(xh, 4, axis=-1) + ops.split(xm, 3, axis=-1)
        x_gates = self._gate(self.conv_x, self.norm_x, x)
        h_gates = self._gate(self.conv_h, self.norm_h, h)
        m_gates = self._gate(self.conv_m, self.norm_m, m)
        i_x, f_x, g_x, i_xm, f_xm, g_xm, o_x = ops.split(x_gates, 7, axis=-1)
        i_h, f_h, g_h, o_h = ops.split(h_gates, 4, axis=-1)
        i_m, f_m, g_m = ops.split(m_gates, 3, axis=-1)
        return [
            i_x + i_h, f_x + f_h, g_x + g_h, o_x + o_h,
            i_xm + i_m, f_xm + f_m, g_xm + g_m,
        ]

    def call(self, x, h, c, m):
        # Identity; on JAX it keeps the memories' gradient chains from being
        # recomputed in every gate's backward fusion (see fusion_fence).
        c, m = fusion_fence(c), fusion_fence(m)
        i_sum, f_sum, g_sum, o_sum, ip_sum, fp_sum, gp_sum = self._gate_sums(
            x, h, m
        )

        # Temporal memory: i, f, g of SPEC section 1.
        i = ops.sigmoid(i_sum)
        f = ops.sigmoid(f_sum + self.forget_bias)
        g = ops.tanh(g_sum)
        delta_c = i * g
        c_new = f * c + delta_c

        # Spatiotemporal memory: i', f', g'.
        i_p = ops.sigmoid(ip_sum)
        f_p = ops.sigmoid(fp_sum + self.forget_bias)
        g_p = ops.tanh(gp_sum)
        delta_m = i_p * g_p
        m_new = f_p * m + delta_m

        # Cast once for the two convolutions that read it (each would cast
        # it again: two casts per layer and step, and two in the backward
        # pass, under mixed precision; a no-op in float32).
        memory = ops.cast(
            ops.concatenate([c_new, m_new], axis=-1),
            self.conv_o.compute_dtype,
        )
        o = ops.sigmoid(o_sum + self._gate(self.conv_o, self.norm_o, memory))
        last = self.conv_last.convolve(memory)
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
        }
