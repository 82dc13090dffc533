"""The convolutions of the ST-LSTM stack: one layer, and stacked sums."""

import keras
from keras import ops

from predrnn_keras import backends


@keras.saving.register_keras_serializable(package="predrnn_keras")
class FeatureMapConv2D(keras.layers.Conv2D):
    """A channels-last `keras.layers.Conv2D` that the fast paths can route.

    In every respect that shows it is a `Conv2D` with
    `data_format="channels_last"`: it takes and returns `(batch, height,
    width, channels)` maps, its kernel is `(kernel_h, kernel_w, in, out)` and
    its config, weights and checkpoints are those of `Conv2D`. With
    `fast_paths="auto"` the backend may lay its kernel out and convolve
    differently (on PyTorch, without layout copies; see
    `predrnn_keras.backends`), and `convolve` takes the kernel that the
    RNN prepared for the whole sequence.

    Args:
        fast_paths: "auto" or "off" (`predrnn_keras.backends.FAST_PATHS`).
        *args, **kwargs: the arguments of `keras.layers.Conv2D`.
    """

    def __init__(self, *args, fast_paths="auto", **kwargs):
        super().__init__(*args, **kwargs)
        self.fast_paths = backends.check_fast_paths(fast_paths)
        self.paths = backends.fast_paths(fast_paths)

    def convolve(self, inputs, kernels=None):
        """`self(inputs)` for a built layer, without `Layer.__call__`.

        The recurrent cell convolves several times per layer and step;
        PyTorch runs that loop eagerly, where `Layer.__call__`'s per-call
        bookkeeping costs a noticeable part of the step. This does what
        `__call__` would: inputs and kernel in the compute dtype, then
        `call`'s arithmetic.

        Args:
            inputs: `(batch, height, width, channels)` maps.
            kernels: the `PreparedKernels` of the sequence in progress
                (`FastPaths.prepare_kernels`), or None to prepare the
                kernel now.
        """
        dtype = self.compute_dtype
        kernel, batched = _prepared(self, kernels)
        outputs = _convolve(self, ops.cast(inputs, dtype), kernel, batched)
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def prepared_kernel(self):
        """The kernel in the compute dtype, laid out for `convolution_op`."""
        return self.paths.lay_out(ops.cast(self.kernel, self.compute_dtype))

    def convolution_op(self, inputs, kernel):
        return self.paths.convolution_op(self, inputs, kernel)

    def get_config(self):
        return {**super().get_config(), "fast_paths": self.fast_paths}


def _prepared(conv, kernels):
    """`(kernel, batched)`: the kernel `conv` convolves with, from
    `kernels` (a `PreparedKernels`) or prepared now, and its
    `BatchedKernelGradient` or None."""
    if kernels is None:
        return conv.prepared_kernel(), None
    return kernels.of(conv)


def _convolve(conv, inputs, kernel, batched):
    """`conv`'s convolution of `inputs`, already in its compute dtype, with
    a prepared kernel; with batched kernel gradients, the output captured
    for the kernel's gradient."""
    outputs = conv.convolution_op(inputs, kernel)
    if batched is not None:
        outputs = batched.capture(inputs, outputs)
    return outputs


class StackedConvolution:
    """Convolutions whose outputs are summed, run as one convolution.

    For convolutions of one geometry (kernel size, strides, padding,
    dilation; no bias), `conv_1(x_1)[..., s_1] + conv_2(x_2)[..., s_2]`,
    where `s_k` selects some output channels of `conv_k`, is one convolution
    of `x_1` and `x_2` stacked on the channel axis, whose kernel is the
    selected output channels of each kernel stacked on the input axis. The
    ST-LSTM sums its gate convolutions this way: the same multiply-adds in
    fewer, larger convolutions.

    It holds no weights: its kernel is assembled from the layers' kernels
    when it is prepared, and the gradient flows back to them through the
    assembly.

    Args:
        parts: `(layer, channels)` pairs: a `FeatureMapConv2D` and the
            output channels of its kernel to take, as a list of
            `(start, stop)` ranges in order, or None for all of them. Every
            part must select the same number of channels.
    """

    def __init__(self, parts):
        self.parts = tuple(
            (layer, None if channels is None else tuple(channels))
            for layer, channels in parts
        )
        first = self.parts[0][0]
        geometry = ("kernel_size", "strides", "padding", "dilation_rate")
        for layer, _ in self.parts:
            for name in geometry:
                value, expected = getattr(layer, name), getattr(first, name)
                if value != expected:
                    raise ValueError(
                        "Expected convolutions of one geometry. Received "
                        f"{layer.name}.{name}={value!r} and "
                        f"{first.name}.{name}={expected!r}"
                    )
            linear = layer.activation in (None, keras.activations.linear)
            if layer.use_bias or layer.groups != 1 or not linear:
                raise ValueError(
                    "Expected convolutions without bias, groups or "
                    f"activation. Received {layer.name} with "
                    f"use_bias={layer.use_bias}, groups={layer.groups}, "
                    f"activation={layer.activation!r}"
                )
        self.geometry = first
        self.paths = first.paths
        # What the backends' kernel gradients read of a convolution.
        for name in geometry:
            setattr(self, name, getattr(first, name))

    @property
    def compute_dtype(self):
        return self.geometry.compute_dtype

    def prepared_kernel(self):
        """The stacked kernel, cast and laid out as `convolution_op` reads it."""
        kernels = []
        for layer, channels in self.parts:
            kernel = ops.cast(layer.kernel, layer.compute_dtype)
            if channels not in (None, ((0, kernel.shape[-1]),)):
                pieces = [kernel[..., start:stop] for start, stop in channels]
                kernel = (
                    pieces[0] if len(pieces) == 1
                    else ops.concatenate(pieces, axis=-1)
                )
            kernels.append(kernel)
        return self.paths.lay_out(ops.concatenate(kernels, axis=2))

    def convolution_op(self, inputs, kernel):
        return self.geometry.convolution_op(inputs, kernel)

    def convolve(self, inputs, kernels=None):
        """The summed convolutions of `inputs`, one tensor per part, in the
        compute dtype, with the stacked kernel from `kernels` (a
        `PreparedKernels`) or, if None, prepared now."""
        dtype = self.compute_dtype
        inputs = [ops.cast(x, dtype) for x in inputs]
        kernel, batched = _prepared(self, kernels)
        if batched is None:
            return self.paths.stacked_convolution(self, inputs, kernel)
        return _convolve(
            self, ops.concatenate(inputs, axis=-1), kernel, batched
        )
