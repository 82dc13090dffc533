"""The project's TestCase: Keras' own (private) test harness, wrapped once."""

import contextlib
from unittest import mock

import keras
import numpy as np
from keras import ops
from keras.src import testing

from predrnn_keras.backends.kernel_reuse import BatchedKernelGradient


# Every backend, for switches that name backends.


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

    @staticmethod
    def gradients(loss, variables, compiled=False):
        """d loss() / d each variable, as float32 NumPy arrays.

        TensorFlow (through a `tf.function` if `compiled`), PyTorch, or JAX
        (`jax.grad`, the variables' values mapped in a `StatelessScope`).
        """
        values = [variable.value for variable in variables]
        if keras.backend.backend() == "torch":
            import torch

            grads = torch.autograd.grad(loss(), values)
        elif keras.backend.backend() == "jax":
            import jax

            def stateless_loss(values):
                mapping = list(zip(variables, values))
                with keras.StatelessScope(state_mapping=mapping):
                    return loss()

            grads = jax.grad(stateless_loss)(values)
        else:
            import tensorflow as tf

            def gradient():
                with tf.GradientTape() as tape:
                    value = loss()
                return tape.gradient(value, values)

            if compiled:
                gradient = tf.function(gradient)
            grads = gradient()
        return [TestCase.to_numpy(ops.cast(g, "float32")) for g in grads]


@contextlib.contextmanager
def kernel_gradient_calls():
    """Records each `BatchedKernelGradient.kernel_gradient` call as
    `(layer, sorted indices of the steps whose gradients it had)`."""
    calls = []
    kernel_gradient = BatchedKernelGradient.kernel_gradient

    def recording(batched, kernel):
        calls.append((batched.layer, sorted(batched.output_gradients)))
        return kernel_gradient(batched, kernel)

    with mock.patch.object(
        BatchedKernelGradient, "kernel_gradient", recording
    ):
        yield calls


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
