"""`keras.layers.RNN` for cells with convolutional states."""

import contextlib
import threading

import keras

from predrnn_keras.layers.conv import reusing_kernels
from predrnn_keras.layers.precision import Float32Recurrence

# The backends on which the RNN prepares its cell's kernels once per sequence
# (`reusing_kernels`), where it was measured to pay: all three. On JAX alone
# (separate gate convolutions) it moved within noise (paper mixed_bfloat16
# inference 5.46 -> 5.20 s, one A/B pair); what it buys there is the stacked
# gate convolutions (`SpatioTemporalLSTM.stacks_gate_convolutions`), whose
# kernels would otherwise be assembled, and their gradients taken apart, at
# every step. Tests change it.
_REUSING = ("tensorflow", "torch", "jax")


def batches_kernel_gradients(backend, compute_dtype, unrolled):
    """Whether a training call computes each kernel's gradient once.

    `BatchedKernelGradient` replaces the per-step weight gradients of each
    kernel by one convolution over all the steps. Measured on a CPU with
    AMX (`benchmarks/bench_train_step.py`, A/B in one session):

    - bfloat16 compute ("mixed_bfloat16"): yes. TensorFlow's paper
      configuration training step 4,375 -> 3,987 ms (1.10x), about 200 MiB
      more peak memory; PyTorch's 5,024 -> 4,476 ms (1.12x), about 460 MiB
      more; PyTorch's small configuration level (326 against 323 ms).
    - float32: no. PyTorch paper 18,314 -> 18,679 ms for 780 MiB more,
      small 681 -> 834 ms; TensorFlow (unrolled) small 584 -> 618 ms.
    - TensorFlow only when the loop is unrolled: a rolled loop's step
      tensors live inside `tf.while_loop`. JAX: no (no side channel
      through its pure autodiff).
    """
    if compute_dtype != "bfloat16":
        return False
    if backend == "tensorflow":
        return bool(unrolled)
    return backend == "torch"


# Ids of the RNNs that run a rolled loop for the call in progress, per thread
# (TensorFlow's MirroredStrategy calls replicas in threads).
_rolled = threading.local()


@keras.saving.register_keras_serializable(package="predrnn_keras")
class SpatioTemporalRNN(Float32Recurrence, keras.layers.RNN):
    """Runs a `PredRNNCell` over time.

    A thin subclass of `keras.layers.RNN` whose `compute_output_shape` knows
    that outputs and states are feature maps `(batch, height, width,
    channels)` rather than flat vectors (the base class assumes
    `(batch, units)`), so symbolic calls and `summary()` are right.

    Args:
        cell: a `PredRNNCell` (or any cell with `spatial_shape`, `state_size`
            as channel counts and `output_size`).
        **kwargs: the arguments of `keras.layers.RNN` (`return_sequences`,
            `return_state`, `unroll`, ...). With `unroll=True` a call on
            sequences whose number of frames is unknown when traced (a
            TensorFlow graph with a `None` time dimension) runs a rolled
            loop instead of failing; known lengths are unrolled.
    """

    @property
    def unroll(self):
        if id(self) in getattr(_rolled, "ids", ()):
            return False
        return self._unroll

    @unroll.setter
    def unroll(self, value):
        self._unroll = value

    def call(self, sequences, initial_state=None, mask=None, training=False):
        with contextlib.ExitStack() as stack:
            if self._unroll and sequences.shape[1] is None:
                stack.enter_context(_rolled_loop(self))
            backend = keras.backend.backend()
            convolutions = getattr(self.cell, "step_convolutions", None)
            if backend in _REUSING and convolutions is not None:
                # Prepare each kernel once per sequence rather than at every
                # step (see `reusing_kernels`), and in training where it
                # pays, compute each kernel's gradient once for the whole
                # sequence.
                layers = convolutions()
                batch_gradients = bool(training) and bool(layers) and (
                    batches_kernel_gradients(
                        backend, layers[0].compute_dtype, self.unroll
                    )
                )
                stack.enter_context(reusing_kernels(layers, batch_gradients))
            return super().call(sequences, initial_state, mask, training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The time loop; on PyTorch a plain Python loop over the cell's `call`.

        PyTorch runs the loop eagerly, step by step. Keras' loop
        (`keras.layers.RNN.inner_loop` and the backend's `rnn`) calls the
        cell through `Layer.__call__` and flattens and repacks the states at
        every step; its outputs come back as a transposed view. Here the
        built cell's `call` runs directly: the same arithmetic (the cell
        computes in float32, `Float32Recurrence`, so `__call__` would cast
        nothing), and its outputs are stacked once. Elsewhere, and for what
        this loop does not cover (masks, `go_backwards`, `stateful`), Keras'
        loop runs.
        """
        if (
            keras.backend.backend() != "torch"
            or mask is not None
            or self.go_backwards
            or self.stateful
            or not self.cell.built
        ):
            return super().inner_loop(sequences, initial_state, mask, training)
        states = list(initial_state)
        outputs = []
        for step in range(sequences.shape[1]):
            output, states = self.cell.call(
                sequences[:, step], states, training=training
            )
            outputs.append(output)
        if self.return_sequences:
            return outputs[-1], keras.ops.stack(outputs, axis=1), list(states)
        return outputs[-1], outputs[-1], list(states)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps, height, width = sequences_shape[:4]
        output_shape = (batch, height, width, self.cell.output_size)
        if self.return_sequences:
            output_shape = (batch, steps) + output_shape[1:]
        if not self.return_state:
            return output_shape
        state_shapes = [
            (batch, height, width, channels)
            for channels in self.cell.state_size[:-1]
        ]
        return (output_shape, *state_shapes, (batch,))


@contextlib.contextmanager
def _rolled_loop(rnn):
    """Within the block, `rnn.unroll` is False in this thread."""
    ids = getattr(_rolled, "ids", None)
    if ids is None:
        ids = _rolled.ids = set()
    ids.add(id(rnn))
    try:
        yield
    finally:
        ids.discard(id(rnn))
