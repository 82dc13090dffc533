"""`keras.layers.RNN` for cells with convolutional states."""

import keras


@keras.saving.register_keras_serializable(package="predrnn_keras")
class SpatioTemporalRNN(keras.layers.RNN):
    """Runs a `PredRNNCell` over time.

    A thin subclass of `keras.layers.RNN` whose `compute_output_shape` knows
    that outputs and states are feature maps `(batch, height, width,
    channels)` rather than flat vectors (the base class assumes
    `(batch, units)`), so symbolic calls and `summary()` are right.

    Args:
        cell: a `PredRNNCell` (or any cell with `spatial_shape`, `state_size`
            as channel counts and `output_size`).
        **kwargs: the arguments of `keras.layers.RNN` (`return_sequences`,
            `return_state`, `unroll`, ...).
    """

    @property
    def compute_dtype(self):
        # Mixed precision: outputs and states stay in the variable dtype
        # (float32): Keras' RNN casts them to its compute dtype. Only the
        # convolution sublayers compute in the policy's compute dtype
        # (bfloat16).
        return self.variable_dtype

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
