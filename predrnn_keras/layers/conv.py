"""The convolution of the ST-LSTM stack, without layout copies on PyTorch."""

import contextlib
import functools
import math
import threading

import keras
from keras import ops

# Kernels prepared once for a whole sequence, by id of their layer; per
# thread, since TensorFlow's MirroredStrategy calls replicas in threads.
_reused = threading.local()


@contextlib.contextmanager
def reusing_kernels(layers, batch_gradients=False):
    """Within the block, `convolve` of each layer uses one prepared kernel.

    A recurrent cell convolves with the same kernels at every step. The RNN
    enters this block around its time loop, so each kernel is prepared (cast
    to the compute dtype and, on PyTorch, laid out as it is read) once per
    sequence rather than at every step. Nothing outlives the block: the next
    call prepares the updated weights anew.

    - PyTorch runs the time loop eagerly, and preparing a kernel at every
      call (the cast, the copy into the memory order that
      `torch.nn.functional.conv2d` reads) cost about 8% of the paper
      configuration's inference (`torch.profiler`).
    - TensorFlow's graph repeats the cast at every step of its while loop
      under mixed precision, and keeps each step's bfloat16 copy of every
      kernel for the backward pass: about 1 GiB of the paper
      configuration's training step, and an eighth of its inference time.
    - JAX's unrolled step would assemble each stacked kernel
      (`StackedConvolution`) at every step, and its gradient would take
      every step's kernel gradient apart again; prepared once, autodiff
      sums the steps' gradients first and goes back through the assembly
      once.

    Each step's kernel gradient is summed over the steps in the compute
    dtype, then cast to the variable's float32 once (before, each step's
    was cast, then summed in float32); the training quality check of
    mixed precision (`benchmarks/precision_quality.py`) was run on it.
    With `batch_gradients` the sum is instead the one weight-gradient
    convolution of `BatchedKernelGradient`, which accumulates over all the
    steps before it rounds to the compute dtype once.
    `SpatioTemporalRNN` enters the block on every backend.

    Args:
        layers: the convolutions: built `FeatureMapConv2D` layers or
            `StackedConvolution`s of them.
        batch_gradients: bool, compute each kernel's gradient once for the
            whole sequence (`BatchedKernelGradient`), on TensorFlow and
            PyTorch. On TensorFlow only for a time loop unrolled in
            Python: the convolutions' inputs and output gradients must be
            tensors of one graph.
    """
    kernels = getattr(_reused, "kernels", None)
    if kernels is None:
        kernels = _reused.kernels = {}
    added = []
    for layer in layers:
        if id(layer) not in kernels:
            kernel = layer.prepared_kernel()
            batched = None
            if batch_gradients:
                batched = BatchedKernelGradient.of(layer)
            if batched is not None:
                kernel = batched.gate(kernel)
            kernels[id(layer)] = (kernel, batched)
            added.append(id(layer))
    try:
        yield
    finally:
        for key in added:
            kernels.pop(key, None)


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
        traced once, so it only shortens tracing. Inside `reusing_kernels`
        the kernel is the one prepared there for the whole sequence.
        """
        dtype = self.compute_dtype
        outputs = _convolve(self, ops.cast(inputs, dtype))
        if self.use_bias:
            outputs = ops.add(outputs, ops.cast(self.bias, dtype))
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs

    def prepared_kernel(self):
        """The kernel as `convolve` passes it to `convolution_op`.

        Its values are the kernel's, `(kernel_h, kernel_w, in, out)`, cast
        to the compute dtype; on PyTorch its memory is also reordered (see
        `_laid_out`).
        """
        return _laid_out(ops.cast(self.kernel, self.compute_dtype))

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


def _prepared(conv):
    """`(kernel, batched)`: `conv`'s kernel and its `BatchedKernelGradient`.

    Inside `reusing_kernels` the kernel prepared there and the batched
    gradient, if any; elsewhere the kernel prepared now and None.
    """
    kernel, batched = getattr(_reused, "kernels", {}).get(
        id(conv), (None, None)
    )
    if kernel is None:
        kernel = conv.prepared_kernel()
    return kernel, batched


def _convolve(conv, inputs, prepared=None):
    """`conv`'s convolution of `inputs`, already in its compute dtype.

    With the kernel of `_prepared(conv)` (or `prepared`, its result) and,
    with batched gradients, the output captured for the kernel's gradient.
    """
    kernel, batched = prepared or _prepared(conv)
    outputs = conv.convolution_op(inputs, kernel)
    if batched is not None:
        outputs = batched.capture(inputs, outputs)
    return outputs


def _laid_out(kernel):
    """An `(kernel_h, kernel_w, in, out)` kernel as `convolution_op` reads it.

    Unchanged on TensorFlow and JAX. On PyTorch its memory is reordered to
    `(out, kernel_h, kernel_w, in)`: seen through Keras' `(3, 2, 0, 1)`
    permutation that is an OIHW kernel in channels-last memory format, which
    PyTorch's CPU convolution of channels-last maps reads as it is; the
    variable's own order made it copy the kernel at every call.

    The reordering is a transpose of the kernel seen as a
    `(kernel_h * kernel_w * in, out)` matrix, which PyTorch copies 2.5-4x
    faster than the same permutation of the 4-D kernel (the paper's
    `(5, 5, 256, 512)` stacked kernel: 11.7 -> 3.0 ms in float32, 7.9 ->
    2.3 ms in bfloat16; medians of 21 calls, one session).
    """
    if keras.backend.backend() != "torch":
        return kernel
    height, width, channels_in, channels_out = kernel.shape
    # Flattening a transposed view copies it into the transposed order.
    matrix = ops.reshape(kernel, (height * width * channels_in, channels_out))
    stored = ops.reshape(ops.transpose(matrix, (1, 0)), (-1,))
    stored = ops.reshape(stored, (channels_out, height, width, channels_in))
    return ops.transpose(stored, (1, 2, 3, 0))


class StackedConvolution:
    """Convolutions whose outputs are summed, run as one convolution.

    For convolutions of one geometry (kernel size, strides, padding,
    dilation; no bias), `conv_1(x_1)[..., s_1] + conv_2(x_2)[..., s_2]`,
    where `s_k` selects some output channels of `conv_k`, is one convolution
    of `x_1` and `x_2` stacked on the channel axis, whose kernel is the
    selected output channels of each kernel stacked on the input axis. The
    ST-LSTM sums its gate convolutions this way (`SpatioTemporalLSTM`):
    the same multiply-adds in fewer, larger convolutions, and no separate
    additions or splits of the summed gates.

    It holds no weights: its kernel is assembled from the layers' kernels
    when it is prepared (once per sequence inside `reusing_kernels`), and
    the gradient flows back to them through the assembly.

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
        # What `BatchedKernelGradient` reads of a convolution.
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
            if channels is not None:
                pieces = [kernel[..., start:stop] for start, stop in channels]
                kernel = (
                    pieces[0] if len(pieces) == 1
                    else ops.concatenate(pieces, axis=-1)
                )
            kernels.append(kernel)
        return _laid_out(ops.concatenate(kernels, axis=2))

    def convolution_op(self, inputs, kernel):
        return self.geometry.convolution_op(inputs, kernel)

    def convolve(self, inputs):
        """The summed convolutions of `inputs`, one tensor per part.

        In the compute dtype, like `FeatureMapConv2D.convolve`. The inputs
        are stacked for the convolution, and stacked again for its gradient
        rather than kept stacked for the backward pass (`_restacking`).
        """
        dtype = self.compute_dtype
        inputs = [ops.cast(x, dtype) for x in inputs]
        prepared = _prepared(self)
        kernel, batched = prepared
        if batched is None and _restacks(self, inputs):
            return _restacking(self)(kernel, *inputs)
        return _convolve(self, ops.concatenate(inputs, axis=-1), prepared)


# On PyTorch, the smallest stacked input (elements per step) that is stacked
# again for the gradient rather than kept. Paper configuration (2 Mi
# elements): the training step's peak memory about 460 MiB lower, its time
# level; small configuration (128 Ki): 4% slower (the autograd function's
# per-call cost) with 50-70 MiB more peak memory (two A/B pairs each,
# `benchmarks/bench_train_step.py`).
TORCH_RESTACK_MIN_ELEMENTS = 1 << 18


def _restacks(conv, inputs):
    """Whether `StackedConvolution.convolve` restacks for the gradient.

    Always on TensorFlow (whose rolled loop would otherwise keep each
    step's stack). On PyTorch while gradients are recorded, for stacks of
    at least `TORCH_RESTACK_MIN_ELEMENTS` and a symmetric padding.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return True
    if backend != "torch" or _torch_padding(conv) is None:
        return False
    import torch

    elements = sum(math.prod(x.shape) for x in inputs)
    return torch.is_grad_enabled() and elements >= TORCH_RESTACK_MIN_ELEMENTS


def _restacking(conv):
    """`conv`'s convolution of its inputs stacked, as `f(kernel, *inputs)`.

    The arithmetic of `convolution_op(concatenate(inputs), kernel)`, but
    the backward pass keeps the inputs as they are (the layer's states,
    which it keeps anyway) and stacks them again when the gradient runs,
    instead of keeping each step's stacked copy.
    """
    if keras.backend.backend() == "torch":
        return functools.partial(_torch_functions()[2].apply, conv)
    import tensorflow as tf

    @tf.custom_gradient
    def convolve(kernel, *inputs):
        outputs = conv.convolution_op(tf.concat(inputs, axis=-1), kernel)

        def gradient(output_gradient):
            # Not before the gradient arrives: the backward loop runs up to
            # 32 iterations at once (Keras' `parallel_iterations`), and a
            # stack that needs only the saved inputs would be built ahead
            # for all of them, holding as much memory as keeping it.
            with tf.control_dependencies([output_gradient]):
                stacked = tf.concat(inputs, axis=-1)
            input_gradient, kernel_gradient = _convolution_gradients(
                conv, stacked, kernel, output_gradient, inputs_too=True
            )
            sizes = [x.shape[-1] for x in inputs]
            return [kernel_gradient, *tf.split(input_gradient, sizes, -1)]

        return outputs, gradient

    return convolve


class BatchedKernelGradient:
    """One kernel's gradient for a whole sequence, as one convolution.

    The gradient of a recurrent cell has one weight-gradient convolution per
    kernel and step, summed: 19 small convolutions of 8 samples for each
    kernel of the paper configuration. Their sum is the weight gradient of
    one convolution over all the steps' inputs stacked on the batch axis,
    and the stacked one is faster: on a CPU with AMX, 1.4x in bfloat16
    (TensorFlow, 179 against 258 ms for the 128 -> 896 gate convolution of
    19 steps) and 1.1x in float32. Whole training steps gained in bfloat16
    only; `SpatioTemporalRNN` uses it where they did
    (`batches_kernel_gradients`).

    The routing: `gate(kernel)` gives the kernel every step convolves with,
    and `capture(inputs, outputs)` wraps each step's output. Their
    gradients keep each step's output gradient and then, when autodiff
    reaches the kernel after every step that used it, compute the kernel's
    gradient from all of them at once.

    - TensorFlow (`tf.custom_gradient`): the steps convolve with the gated
      kernel itself, so TensorFlow still builds the per-step weight
      gradients; nothing consumes them and a `tf.function` prunes them.
      Eagerly they run and are discarded. Only for a loop unrolled in
      Python: a rolled loop's step tensors live inside the loop.
    - PyTorch (`torch.autograd.Function`): the steps convolve with the
      kernel detached, so autograd computes only their input gradients,
      and each captured output links to the gate, which runs after them.

    Create it with `BatchedKernelGradient.of(layer)`, which gives None for
    a backend or geometry it does not handle (JAX; on PyTorch, strides or
    an even kernel under "same" padding).
    """

    def __init__(self, layer):
        self.layer = layer
        self.inputs = {}
        self.output_gradients = {}
        self._steps = 0
        self._gated = None

    @classmethod
    def of(cls, layer):
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return cls(layer)
        if backend == "torch" and _torch_padding(layer) is not None:
            return cls(layer)
        return None

    def gate(self, kernel):
        """The kernel that each step convolves with."""
        if keras.backend.backend() == "torch":
            self._gated = _torch_functions()[0].apply(kernel, self)
            return self._gated.detach()
        import tensorflow as tf

        @tf.custom_gradient
        def gate(kernel):
            def gradient(unused_sum_of_steps):
                return self.kernel_gradient(kernel)

            return tf.identity(kernel), gradient

        return gate(kernel)

    def capture(self, inputs, outputs):
        """`outputs`, whose gradient is kept for the kernel's."""
        index = self._steps
        self._steps += 1
        if keras.backend.backend() == "torch":
            return _torch_functions()[1].apply(
                outputs, inputs, self._gated, self, index
            )
        import tensorflow as tf

        self.inputs[index] = inputs

        @tf.custom_gradient
        def capture(outputs):
            def gradient(output_gradient):
                self.output_gradients[index] = output_gradient
                return output_gradient

            return tf.identity(outputs), gradient

        return capture(outputs)

    def kernel_gradient(self, kernel):
        """The sum over the captured steps of the kernel's gradient."""
        steps = sorted(self.output_gradients)
        if not steps:
            return ops.zeros_like(kernel)
        inputs = ops.concatenate([self.inputs[i] for i in steps], axis=0)
        gradients = ops.concatenate(
            [self.output_gradients[i] for i in steps], axis=0
        )
        _, kernel_gradient = _convolution_gradients(
            self.layer, inputs, kernel, gradients, inputs_too=False
        )
        return kernel_gradient


def _convolution_gradients(layer, inputs, kernel, output_gradient, inputs_too):
    """`(input gradient, kernel gradient)` of `layer`'s convolution.

    Of `convolution_op(inputs, kernel)` for the output gradient
    `output_gradient`; the input gradient is None unless `inputs_too`. NHWC
    maps and an `(kernel_h, kernel_w, in, out)` kernel, as `convolution_op`
    takes them. TensorFlow, and PyTorch for a symmetric padding
    (`_torch_padding`).
    """
    if keras.backend.backend() == "torch":
        import torch

        # NCHW views of the NHWC maps and an OIHW view of the kernel, as
        # `convolution_op` convolves them.
        input_gradient, kernel_gradient, _ = (
            torch.ops.aten.convolution_backward(
                output_gradient.permute(0, 3, 1, 2),
                inputs.permute(0, 3, 1, 2),
                kernel.permute(3, 2, 0, 1),
                None,
                list(layer.strides),
                _torch_padding(layer),
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
    import tensorflow as tf

    geometry = dict(
        strides=[1, *layer.strides, 1],
        padding=layer.padding.upper(),
        dilations=[1, *layer.dilation_rate, 1],
    )
    kernel_gradient = tf.raw_ops.Conv2DBackpropFilter(
        input=inputs,
        filter_sizes=tf.shape(kernel),
        out_backprop=output_gradient,
        **geometry,
    )
    input_gradient = None
    if inputs_too:
        input_gradient = tf.raw_ops.Conv2DBackpropInput(
            input_sizes=tf.shape(inputs),
            filter=kernel,
            out_backprop=output_gradient,
            **geometry,
        )
    return input_gradient, kernel_gradient


def _torch_padding(layer):
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


@functools.cache
def _torch_functions():
    """The autograd functions of `BatchedKernelGradient` on PyTorch."""
    import torch

    class Gate(torch.autograd.Function):
        """The kernel, whose gradient is the batched one."""

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

    class Capture(torch.autograd.Function):
        """A step's output, whose gradient is kept; linked to the gate.

        The step's input is saved with the node, not in `batched`: a
        tensor held there would tie `batched` to the autograd graph in a
        cycle that Python's garbage collector cannot see, and leak it.
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

    class Restacked(torch.autograd.Function):
        """A stacked convolution that keeps its inputs unstacked."""

        @staticmethod
        def forward(conv, kernel, *inputs):
            return conv.convolution_op(torch.cat(inputs, dim=-1), kernel)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.conv = inputs[0]
            ctx.save_for_backward(*inputs[1:])

        @staticmethod
        def backward(ctx, output_gradient):
            kernel, *inputs = ctx.saved_tensors
            input_gradient, kernel_gradient = _convolution_gradients(
                ctx.conv,
                torch.cat(inputs, dim=-1),
                kernel,
                output_gradient,
                inputs_too=any(ctx.needs_input_grad[2:]),
            )
            input_gradients = [None] * len(inputs)
            if input_gradient is not None:
                input_gradients = torch.split(
                    input_gradient, [x.shape[-1] for x in inputs], dim=-1
                )
            return (None, kernel_gradient, *input_gradients)

    return Gate, Capture, Restacked
