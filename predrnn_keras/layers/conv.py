"""The convolution of the ST-LSTM stack, without layout copies on PyTorch."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="predrnn_keras")
class FeatureMapConv2D(keras.layers.Conv2D):
    """A channels-last `keras.layers.Conv2D` that copies nothing on PyTorch.

    The layer is an ordinary `Conv2D` in every respect that shows: it takes
    and returns `(batch, height, width, channels)` feature maps, its kernel is
    `(kernel_h, kernel_w, in, out)` and its config, weights and checkpoints
    are those of `Conv2D` with `data_format="channels_last"`. Only the route
    to the backend's convolution differs, and only on PyTorch.

    There, Keras' channels-last convolution (3.15) copies the input twice, to
    a contiguous NCHW tensor and back to PyTorch's channels-last memory
    format, and the kernel once, and autograd keeps the copied input for the
    backward pass. Yet an NHWC tensor seen through a (0, 3, 1, 2)
    permutation already *is* an NCHW tensor in channels-last memory format,
    which `torch.nn.functional.conv2d` takes as it is. So this layer permutes
    (a view), convolves as `channels_first` and permutes the result back (a
    view again): the same arithmetic, with no copies and no second saved
    input. On TensorFlow and JAX it is `Conv2D` unchanged (TensorFlow's CPU
    convolution has no channels-first kernel).
    """

    def convolve(self, inputs):
        """`self(inputs)` for a built layer, without `Layer.__call__`.

        The recurrent cell calls its convolutions five times per layer and
        step. On PyTorch, which runs eagerly, `Layer.__call__`'s per-call
        bookkeeping (argument binding, call context, name and autocast
        scopes, masks) then costs about a tenth of the small configuration's
        step, and more under mixed precision. This method does what
        `__call__` would for this layer: inputs and kernel in the compute
        dtype (bfloat16 under "mixed_bfloat16", the kernel variable staying
        float32), then `call`'s arithmetic. On TensorFlow and JAX the step is
        traced once, so it only shortens tracing.
        """
        dtype = self.compute_dtype
        outputs = self.convolution_op(
            ops.cast(inputs, dtype), ops.cast(self.kernel, dtype)
        )
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def convolution_op(self, inputs, kernel):
        if keras.backend.backend() != "torch":
            return super().convolution_op(inputs, kernel)
        outputs = ops.conv(
            ops.transpose(inputs, (0, 3, 1, 2)),
            kernel,
            strides=list(self.strides),
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format="channels_first",
        )
        return ops.transpose(outputs, (0, 2, 3, 1))
