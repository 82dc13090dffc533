"""`keras.layers.RNN` for cells with convolutional states."""

import contextlib
import threading

import keras

from predrnn_keras import backends
from predrnn_keras.layers.precision import Float32Recurrence

# Ids of the RNNs that run a rolled loop for the call in progress, per thread
# (TensorFlow's MirroredStrategy calls replicas in threads).
_rolled = threading.local()


@keras.saving.register_keras_serializable(package="predrnn_keras")
class SpatioTemporalRNN(Float32Recurrence, keras.layers.RNN):
    """Runs a `PredRNNCell` over time.

    A thin subclass of `keras.layers.RNN` whose `compute_output_shape` knows
    that outputs and states are feature maps `(batch, height, width,
    channels)` rather than flat vectors (the base class assumes
    `(batch, units)`), so symbolic calls and `summary()` are right. With
    the cell's `fast_paths="auto"` the backend's fast paths drive the loop:
    each kernel prepared once per sequence (and, where it pays, its gradient
    computed once per sequence), and on PyTorch a plain Python loop.

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

    @property
    def paths(self):
        """The cell's fast paths ("auto" for a cell without the setting)."""
        return backends.fast_paths(getattr(self.cell, "fast_paths", "auto"))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        with contextlib.ExitStack() as stack:
            if self._unroll and sequences.shape[1] is None:
                stack.enter_context(_rolled_loop(self))
            convolutions = getattr(self.cell, "step_convolutions", None)
            if convolutions is not None:
                layers = convolutions()
                batch_gradients = bool(training) and bool(layers) and (
                    self.paths.batches_kernel_gradients(
                        layers[0].compute_dtype, self.unroll
                    )
                )
                stack.enter_context(
                    self.paths.reusing_kernels(layers, batch_gradients)
                )
            return super().call(sequences, initial_state, mask, training)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """The time loop: the fast paths' own where they have one, else
        Keras'."""
        loop = self.paths.time_loop(
            self, sequences, initial_state, mask, training
        )
        if loop is None:
            return super().inner_loop(sequences, initial_state, mask, training)
        return loop

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
