"""Mixed precision: which layers keep their arithmetic in float32."""


class Float32Recurrence:
    """Mixin: the layer computes in its variable dtype (float32).

    Under a mixed policy ("mixed_bfloat16") Keras casts a layer's floating
    inputs, and `keras.layers.RNN` casts its states, to the layer's compute
    dtype. The recurrent layers of this package report their variable dtype
    instead, so frames, masks, the states `h`, `c`, `m`, the gates, the memory
    updates, the decoupling sum and the losses stay in float32. Only the
    convolution sublayers, which keep the policy, compute in bfloat16; their
    outputs are cast back to float32 where they are used.

    List it before the Keras base class: `class Cell(Float32Recurrence,
    keras.layers.Layer)`.
    """

    @property
    def compute_dtype(self):
        return self.variable_dtype
