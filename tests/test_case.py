"""The project's TestCase: Keras' own (private) test harness, wrapped once."""

import numpy as np
from keras import ops
from keras.src import testing


class TestCase(testing.TestCase):
    """`keras.src.testing.TestCase` with helpers for the model tests."""

    @staticmethod
    def to_numpy(x):
        return np.asarray(ops.convert_to_numpy(x))

    @staticmethod
    def randomize_weights(layer, seed=0, scale=0.3):
        """Sets every weight of `layer` to N(0, scale), layer-norm scales to
        1 + N(0, scale), so that a wrong wiring cannot hide behind zeros."""
        rng = np.random.default_rng(seed)
        for weight in layer.trainable_weights:
            shape = tuple(weight.shape)
            value = rng.normal(0.0, scale, shape)
            if "gamma" in weight.path:
                value += 1.0
            weight.assign(value.astype(weight.dtype))


def st_lstm_weights(layer):
    """Kernels (and norms) of a SpatioTemporalLSTM as NumPy arrays."""
    to_np = TestCase.to_numpy
    weights = {
        f"conv_{name}": to_np(getattr(layer, f"conv_{name}").kernel)
        for name in ("x", "h", "m", "o", "last")
    }
    if layer.layer_norm:
        for name in ("x", "h", "m", "o"):
            norm = getattr(layer, f"norm_{name}")
            weights[f"norm_{name}"] = (to_np(norm.gamma), to_np(norm.beta))
    return weights
