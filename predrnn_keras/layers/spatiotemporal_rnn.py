"""`keras.layers.RNN` for cells with convolutional states."""

import keras
from keras import ops
from keras import tree

# Keras' own time loop, the one `keras.layers.RNN.inner_loop` runs; Keras
# gives it no public name.
from keras.src.backend import rnn as keras_rnn

from predrnn_keras import backends
from predrnn_keras.layers.precision import Float32Recurrence


@keras.saving.register_keras_serializable(package="predrnn_keras")
class SpatioTemporalRNN(Float32Recurrence, keras.layers.RNN):
    """Runs a `PredRNNCell` over time.

    A thin subclass of `keras.layers.RNN` whose `compute_output_shape` knows
    that outputs and states are feature maps `(batch, height, width,
    channels)` rather than flat vectors (the base class assumes
    `(batch, units)`), so symbolic calls and `summary()` are right. With
    the cell's `fast_paths="auto"` the backend's fast paths drive the loop:
    each kernel prepared once per sequence (and, where it pays, its
    gradient computed once per sequence), and on PyTorch a plain Python
    loop. Everything a step needs reaches the cell through the arguments
    of its call, as in Keras' RNN: the states, `training`, and the kernels
    prepared for the sequence (`kernels=`); `call` decides per call whether
    the loop is unrolled and passes that to `inner_loop`.

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
    def paths(self):
        """The cell's fast paths ("auto" for a cell without the setting)."""
        return backends.fast_paths(getattr(self.cell, "fast_paths", "auto"))

    def call(self, sequences, initial_state=None, mask=None, training=False):
        # Keras' `RNN.call`, except that a number of frames unknown when
        # traced runs a rolled loop where Keras refuses to unroll.
        unroll = bool(self.unroll) and sequences.shape[1] is not None
        initial_state = self._initial_state(sequences, initial_state)
        self._maybe_config_dropout_masks(
            self.cell, sequences[:, 0], initial_state
        )
        last_output, outputs, states = self.inner_loop(
            sequences, initial_state, mask, training, unroll=unroll
        )
        last_output = ops.cast(last_output, self.compute_dtype)
        outputs = ops.cast(outputs, self.compute_dtype)
        states = tree.map_structure(
            lambda x: ops.cast(x, self.compute_dtype), states
        )
        self._maybe_reset_dropout_masks(self.cell)
        if self.stateful:
            for variable, state in zip(
                tree.flatten(self.states), tree.flatten(states)
            ):
                variable.assign(state)
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return output, *states
        return output

    def _initial_state(self, sequences, initial_state):
        """The states the loop starts from, as a list in the cell's compute
        dtype (Keras' `RNN.call`)."""
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                initial_state = self.get_initial_state(
                    batch_size=ops.shape(sequences)[0]
                )
        batch = sequences.shape[0]
        expected = self._expected_batch_size
        known = None not in (batch, expected)
        if self.stateful and known and batch != expected:
            raise ValueError(
                "If an RNN is stateful, the batch size of the input "
                "sequences must be the same as the batch size of the "
                f"initial state. Expected: {expected}. Received: {batch}"
            )
        if not tree.is_nested(initial_state):
            initial_state = [initial_state]
        return tree.map_structure(
            lambda x: ops.convert_to_tensor(x, dtype=self.cell.compute_dtype),
            list(initial_state),
        )

    def inner_loop(
        self, sequences, initial_state, mask, training=False, unroll=None
    ):
        """The time loop: the fast paths' own where they have one, else
        Keras'.

        Every step's cell call gets `training` and, where the fast paths
        prepare them, the kernels prepared for this sequence
        (`FastPaths.prepare_kernels`, as `kernels=`).

        Args:
            unroll: bool, whether Keras' loop is unrolled; None for the
                layer's `unroll`. `call` passes False for sequences whose
                number of frames is unknown when traced.
        """
        if unroll is None:
            unroll = self.unroll
        cell_kwargs = self._cell_kwargs(training, unroll)
        loop = self.paths.time_loop(
            self, sequences, initial_state, mask, cell_kwargs
        )
        if loop is None:
            loop = self._keras_loop(
                sequences, initial_state, mask, unroll, cell_kwargs
            )
        return loop

    def _cell_kwargs(self, training, unroll):
        """The keyword arguments of every step's cell call: `training`, and
        the cell's convolutions prepared once for the sequence."""
        kwargs = {}
        cell = self.cell
        if isinstance(cell, keras.Layer) and cell._call_has_training_arg:
            kwargs["training"] = training
        convolutions = getattr(self.cell, "step_convolutions", None)
        if convolutions is None:
            return kwargs
        layers = convolutions()
        batch_gradients = (
            bool(training)
            and bool(layers)
            and self.paths.batches_kernel_gradients(
                layers[0].compute_dtype, unroll
            )
        )
        kernels = self.paths.prepare_kernels(layers, batch_gradients)
        if kernels is not None:
            kwargs["kernels"] = kernels
        return kwargs

    def _keras_loop(self, sequences, initial_state, mask, unroll, cell_kwargs):
        """Keras' time loop (`keras.layers.RNN.inner_loop`), unrolled as
        `unroll` says, with `cell_kwargs` for every step."""

        def step(inputs, states):
            if self.stateful:
                # Keras copies a stateful RNN's states on PyTorch, whose
                # autograd would otherwise see them modified in place; the
                # copy changes nothing elsewhere.
                states = tree.map_structure(ops.copy, states)
            output, new_states = self.cell(inputs, states, **cell_kwargs)
            if not tree.is_nested(new_states):
                new_states = [new_states]
            return output, new_states

        return keras_rnn(
            step,
            sequences,
            initial_state,
            go_backwards=self.go_backwards,
            mask=mask,
            unroll=unroll,
            input_length=sequences.shape[1],
            zero_output_for_mask=self.zero_output_for_mask,
            return_all_outputs=self.return_sequences,
        )

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
