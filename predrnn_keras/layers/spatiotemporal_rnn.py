"""`keras.layers.RNN` for cells with convolutional states."""

import contextlib
import threading

import keras

from predrnn_keras.layers.conv import reusing_kernels
from predrnn_keras.layers.precision import Float32Recurrence

# The backends on which the RNN prepares its cell's kernels once per sequence
# (`reusing_kernels`), where it was measured to pay. JAX is left out: in one
# A/B pair of the paper configuration's mixed_bfloat16 inference it moved
# within noise (5.46 -> 5.20 s), and its training was not measured.
_REUSING = ("tensorflow", "torch")

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
            convolutions = getattr(self.cell, "convolutions", None)
            reusing = keras.backend.backend() in _REUSING
            if reusing and convolutions is not None:
                # Prepare each kernel once per sequence rather than at every
                # step (see `reusing_kernels`); in TensorFlow's unrolled
                # training loop, also compute each kernel's gradient once
                # for the whole sequence (`BatchedKernelGradient`). A rolled
                # loop cannot: its steps' tensors live inside the loop.
                batch_gradients = (
                    keras.backend.backend() == "tensorflow"
                    and bool(training)
                    and self.unroll
                )
                stack.enter_context(
                    reusing_kernels(convolutions(), batch_gradients)
                )
            return super().call(sequences, initial_state, mask, training)

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
