"""PyTorch: its fast paths (no layout copies, its own time loop)."""

import math

import torch
from keras import ops

from predrnn_keras.backends.kernel_reuse import BatchedKernelGradient
from predrnn_keras.backends.kernel_reuse import KernelReuse
from predrnn_keras.backends.plain import Backend


class TorchFastPaths(KernelReuse):
    """Convolutions without layout copies, kernels laid out once per
    sequence, stacked gate convolutions (restacked for the gradient when
    large), batched kernel gradients in bfloat16, and a plain Python time
    loop.

    Attributes:
        restack_min_elements: the smallest stacked input (elements per
            step) that is stacked again for the gradient rather than kept;
            below it the autograd function's per-call cost outweighs the
            memory it saves.
    """

    stacks_gate_convolutions = True
    restack_min_elements = 1 << 18

    def batches_kernel_gradients(self, compute_dtype, unrolled):
        return compute_dtype == "bfloat16"

    def batched_gradient(self, layer):
        if _padding(layer) is None:
            return None
        return TorchBatchedKernelGradient(layer, self)

    def lay_out(self, kernel):
        # Keras' channels-first convolution reads the kernel through a
        # (3, 2, 0, 1) permutation; stored as (out, kernel_h, kernel_w, in)
        # that is an OIHW kernel in channels-last memory format, which
        # PyTorch's convolution of channels-last maps reads without a copy.
        # The reordering is done as the transpose of a 2-D matrix, which
        # PyTorch copies several times faster than a 4-D permutation.
        height, width, channels_in, channels_out = kernel.shape
        matrix = ops.reshape(
            kernel, (height * width * channels_in, channels_out)
        )
        stored = ops.reshape(ops.transpose(matrix, (1, 0)), (-1,))
        stored = ops.reshape(
            stored, (channels_out, height, width, channels_in)
        )
        return ops.transpose(stored, (1, 2, 3, 0))

    def convolution_op(self, conv, inputs, kernel):
        # An NHWC tensor seen through a (0, 3, 1, 2) permutation is an
        # NCHW tensor in channels-last memory format, which PyTorch
        # convolves as it is: no copy of the input, and no second copy
        # kept for the backward pass (Keras' channels-last route makes
        # both).
        outputs = ops.conv(
            ops.transpose(inputs, (0, 3, 1, 2)),
            kernel,
            strides=list(conv.strides),
            padding=conv.padding,
            dilation_rate=conv.dilation_rate,
            data_format="channels_first",
        )
        return ops.transpose(outputs, (0, 2, 3, 1))

    def stacked_convolution(self, conv, inputs, kernel):
        elements = sum(math.prod(x.shape) for x in inputs)
        if (
            torch.is_grad_enabled()
            and elements >= self.restack_min_elements
            and _padding(conv) is not None
        ):
            return _Restacked.apply(conv, self, kernel, *inputs)
        return super().stacked_convolution(conv, inputs, kernel)

    def time_loop(self, rnn, sequences, initial_state, mask, cell_kwargs):
        # The built cell's `call` directly, step by step: PyTorch runs the
        # loop eagerly, and Keras' loop would pay `Layer.__call__` and a
        # flatten and repack of the states at every step.
        if mask is not None or rnn.go_backwards or rnn.stateful:
            return None
        if not rnn.cell.built:
            return None
        states = list(initial_state)
        outputs = []
        for step in range(sequences.shape[1]):
            output, states = rnn.cell.call(
                sequences[:, step], states, **cell_kwargs
            )
            outputs.append(output)
        sequence = outputs[-1]
        if rnn.return_sequences:
            sequence = ops.stack(outputs, axis=1)
        return outputs[-1], sequence, list(states)

    def convolution_gradients(
        self, layer, inputs, kernel, output_gradient, inputs_too
    ):
        # NCHW views of the NHWC maps and an OIHW view of the kernel, as
        # `convolution_op` convolves them.
        input_gradient, kernel_gradient, _ = (
            torch.ops.aten.convolution_backward(
                output_gradient.permute(0, 3, 1, 2),
                inputs.permute(0, 3, 1, 2),
                kernel.permute(3, 2, 0, 1),
                None,
                list(layer.strides),
                _padding(layer),
                list(layer.dilation_rate),
                False,
                [0, 0],
                1,
                [inputs_too, True, False],
            )
        )
        if input_gradient is not None:
            input_gradient = input_gradient.permute(0, 2, 3, 1)
        return input_gradient, kernel_gradient.permute(2, 3, 1, 0)


class TorchBatchedKernelGradient(BatchedKernelGradient):
    """`BatchedKernelGradient` through `torch.autograd.Function`s.

    The steps convolve with the kernel detached, so autograd computes only
    their input gradients, and each captured output links to the gate,
    whose backward runs after them.
    """

    def __init__(self, layer, paths):
        super().__init__(layer, paths)
        self._gated = None

    def gate(self, kernel):
        self._gated = _Gate.apply(kernel, self)
        return self._gated.detach()

    def capture(self, inputs, outputs):
        return _Capture.apply(
            outputs, inputs, self._gated, self, self.next_step()
        )


def _padding(layer):
    """PyTorch's symmetric padding of the layer, or None if it has none."""
    if layer.padding == "valid":
        return [0, 0]
    if tuple(layer.strides) != (1, 1):
        return None
    padding = []
    for size, rate in zip(layer.kernel_size, layer.dilation_rate):
        if (size - 1) * rate % 2:
            return None
        padding.append((size - 1) * rate // 2)
    return padding


class _Gate(torch.autograd.Function):
    """Autograd: the kernel, whose gradient is the batched one."""

    @staticmethod
    def forward(kernel, batched):
        return kernel.view_as(kernel)

    @staticmethod
    def setup_context(ctx, inputs, output):
        kernel, ctx.batched = inputs
        ctx.kernel = kernel.detach()

    @staticmethod
    def backward(ctx, unused):
        batched = ctx.batched
        gradient = batched.kernel_gradient(ctx.kernel)
        # The steps' tensors go with this backward pass.
        batched.inputs.clear()
        batched.output_gradients.clear()
        return gradient, None


class _Capture(torch.autograd.Function):
    """Autograd: a step's output, whose gradient is kept; linked to the
    gate.

    The step's input is saved with the node, not in `batched`: a tensor
    held there would tie `batched` to the autograd graph in a cycle
    that Python's garbage collector cannot see.
    """

    @staticmethod
    def forward(outputs, inputs, gated, batched, index):
        return outputs.view_as(outputs)

    @staticmethod
    def setup_context(ctx, inputs, output):
        step_inputs, _, ctx.batched, ctx.index = inputs[1:]
        ctx.save_for_backward(step_inputs)

    @staticmethod
    def backward(ctx, output_gradient):
        (step_inputs,) = ctx.saved_tensors
        ctx.batched.inputs[ctx.index] = step_inputs
        ctx.batched.output_gradients[ctx.index] = output_gradient
        return output_gradient, None, None, None, None


class _Restacked(torch.autograd.Function):
    """Autograd: a stacked convolution that keeps its inputs unstacked."""

    @staticmethod
    def forward(conv, paths, kernel, *inputs):
        return conv.convolution_op(torch.cat(inputs, dim=-1), kernel)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.conv, ctx.paths = inputs[:2]
        ctx.save_for_backward(*inputs[2:])

    @staticmethod
    def backward(ctx, output_gradient):
        kernel, *inputs = ctx.saved_tensors
        input_gradient, kernel_gradient = ctx.paths.convolution_gradients(
            ctx.conv,
            torch.cat(inputs, dim=-1),
            kernel,
            output_gradient,
            inputs_too=any(ctx.needs_input_grad[3:]),
        )
        input_gradients = [None] * len(inputs)
        if input_gradient is not None:
            input_gradients = torch.split(
                input_gradient, [x.shape[-1] for x in inputs], dim=-1
            )
        return (None, None, kernel_gradient, *input_gradients)


class TorchBackend(Backend):
    """PyTorch trains on one device here: nothing beyond `Backend`."""


FAST_PATHS = TorchFastPaths
BACKEND = TorchBackend
