"""Kernels prepared once per sequence, and their batched gradients.

The machinery of the fast paths that TensorFlow, JAX and PyTorch share: a
recurrent cell convolves with the same kernels at every step, so the RNN
prepares each kernel (cast to the compute dtype and laid out as the
backend's convolution reads it) once before its time loop and hands them to
every step (`PreparedKernels`), and, where the backend supports it,
computes each kernel's gradient once for the whole sequence
(`BatchedKernelGradient`).
"""

from keras import ops

from predrnn_keras.backends.plain import FastPaths


class KernelReuse(FastPaths):
    """`FastPaths` whose RNN prepares each kernel once per sequence."""

    def prepare_kernels(self, layers, batch_gradients=False):
        """A `PreparedKernels` of `layers`, prepared now for the sequence.

        Each kernel's gradient is the sum over the steps in the compute
        dtype, cast to the variable dtype once; with `batch_gradients` it
        is one weight-gradient convolution over all the steps
        (`BatchedKernelGradient`).
        """
        kernels = {}
        for layer in layers:
            kernel = layer.prepared_kernel()
            batched = self.batched_gradient(layer) if batch_gradients else None
            if batched is not None:
                kernel = batched.gate(kernel)
            kernels[layer] = (kernel, batched)
        return PreparedKernels(kernels)

    def batched_gradient(self, layer):
        """A `BatchedKernelGradient` for `layer`, or None where the backend
        or the layer's geometry has none."""
        return None

    def convolution_gradients(
        self, layer, inputs, kernel, output_gradient, inputs_too
    ):
        """`(input gradient, kernel gradient)` of `layer.convolution_op`.

        For NHWC `inputs` and an `(kernel_h, kernel_w, in, out)` kernel;
        the input gradient is None unless `inputs_too`.
        """
        raise NotImplementedError


class PreparedKernels:
    """The kernels one sequence convolves with, prepared before its first
    step.

    Made by `KernelReuse.prepare_kernels` when the RNN starts a sequence
    and handed to every step's cell call, as Keras' RNN hands the cell its
    states; nothing outlives the call, so the next sequence prepares the
    updated weights anew.

    Args:
        kernels: `{layer: (kernel, batched)}`: the kernel each layer
            convolves with and its `BatchedKernelGradient` or None.
    """

    def __init__(self, kernels):
        self._kernels = dict(kernels)

    def of(self, conv):
        """`(kernel, batched)` for `conv`; a convolution that was not
        prepared for the sequence prepares its kernel now."""
        prepared = self._kernels.get(conv)
        if prepared is None:
            return conv.prepared_kernel(), None
        return prepared


class BatchedKernelGradient:
    """One kernel's gradient for a whole sequence, as one convolution.

    A recurrent cell's gradient has one weight-gradient convolution per
    kernel and step, summed. That sum is the weight gradient of one
    convolution over all the steps' inputs stacked on the batch axis, which
    runs faster in bfloat16.

    `gate(kernel)` gives the kernel every step convolves with, and
    `capture(inputs, outputs)` wraps each step's output. Their gradients
    keep each step's output gradient and then, when autodiff reaches the
    kernel after every step that used it, compute the kernel's gradient
    from all of them at once (`kernel_gradient`). The backends implement
    `gate` and `capture`.
    """

    def __init__(self, layer, paths):
        self.layer = layer
        self.paths = paths
        self.inputs = {}
        self.output_gradients = {}
        self._steps = 0

    def gate(self, kernel):
        """The kernel that each step convolves with."""
        raise NotImplementedError

    def capture(self, inputs, outputs):
        """`outputs`, whose gradient is kept for the kernel's."""
        raise NotImplementedError

    def next_step(self):
        """The index of the step being captured."""
        index = self._steps
        self._steps += 1
        return index

    def kernel_gradient(self, kernel):
        """The sum over the captured steps of the kernel's gradient."""
        steps = sorted(self.output_gradients)
        if not steps:
            return ops.zeros_like(kernel)
        inputs = ops.concatenate([self.inputs[i] for i in steps], axis=0)
        gradients = ops.concatenate(
            [self.output_gradients[i] for i in steps], axis=0
        )
        _, kernel_gradient = self.paths.convolution_gradients(
            self.layer, inputs, kernel, gradients, inputs_too=False
        )
        return kernel_gradient
