"""Kernels prepared once per sequence, and their batched gradients.

The machinery of the fast paths that TensorFlow, JAX and PyTorch share: a
recurrent cell convolves with the same kernels at every step, so the RNN
prepares each kernel (cast to the compute dtype and laid out as the
backend's convolution reads it) once around its time loop, and, where the
backend supports it, computes each kernel's gradient once for the whole
sequence (`BatchedKernelGradient`).
"""

import contextlib
import threading

from keras import ops

from predrnn_keras.backends.plain import FastPaths

# Kernels prepared for the sequence in progress, by id of their layer; per
# thread, since TensorFlow's MirroredStrategy calls replicas in threads.
_reused = threading.local()


class KernelReuse(FastPaths):
    """`FastPaths` whose RNN prepares each kernel once per sequence."""

    @contextlib.contextmanager
    def reusing_kernels(self, layers, batch_gradients=False):
        """Within the block, each layer convolves with one prepared kernel.

        Nothing outlives the block: the next call prepares the updated
        weights anew. Each kernel's gradient is the sum over the steps in
        the compute dtype, cast to the variable dtype once; with
        `batch_gradients` it is one weight-gradient convolution over all
        the steps (`BatchedKernelGradient`).

        Args:
            layers: built `FeatureMapConv2D` layers or `StackedConvolution`s.
            batch_gradients: bool, compute each kernel's gradient once for
                the sequence where the backend can (`batched_gradient`).
        """
        kernels = getattr(_reused, "kernels", None)
        if kernels is None:
            kernels = _reused.kernels = {}
        added = []
        for layer in layers:
            if id(layer) in kernels:
                continue
            kernel = layer.prepared_kernel()
            batched = self.batched_gradient(layer) if batch_gradients else None
            if batched is not None:
                kernel = batched.gate(kernel)
            kernels[id(layer)] = (kernel, batched)
            added.append(id(layer))
        try:
            yield
        finally:
            for key in added:
                kernels.pop(key, None)

    def prepared(self, conv):
        kernel, batched = getattr(_reused, "kernels", {}).get(
            id(conv), (None, None)
        )
        if kernel is None:
            return conv.prepared_kernel(), None
        return kernel, batched

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
