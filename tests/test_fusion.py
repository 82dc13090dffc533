import re

import keras
import numpy as np
import pytest

from predrnn_keras.backends.jax import JaxFastPaths
from predrnn_keras.layers import SpatioTemporalLSTM
from tests.test_case import TestCase

# JAX's fence is Keras ops only: its exactness is checked on every backend.
fusion_fence = JaxFastPaths().fusion_fence


class FusionFenceTest(TestCase):
    def test_is_the_identity_exactly(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(2, 3, 4, 5)) * 10.0 ** rng.integers(
            -30, 30, size=(2, 3, 4, 5)
        )
        x = x.astype("float32")
        got = self.to_numpy(fusion_fence(x))
        self.assertEqual(got.dtype, np.float32)
        self.assertEqual(got.shape, x.shape)
        np.testing.assert_array_equal(got, x)

    def test_keeps_bfloat16(self):
        x = keras.ops.cast(np.linspace(-3, 3, 24).reshape(1, 4, 6), "bfloat16")
        got = fusion_fence(x)
        self.assertEqual(keras.backend.standardize_dtype(got.dtype), "bfloat16")
        np.testing.assert_array_equal(
            self.to_numpy(keras.ops.cast(got, "float32")),
            self.to_numpy(keras.ops.cast(x, "float32")),
        )


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's fusion")
def test_jax_gradient_is_the_identity_exactly():
    import jax

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    weight = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    grad = jax.grad(lambda v: (fusion_fence(v) * weight).sum())(x)
    np.testing.assert_array_equal(np.asarray(grad), weight)


def _largest_fusion(steps):
    """Operands of the largest fusion that yields a feature map (batch x
    height x width x channels) in XLA's optimised backward pass of `steps`
    unrolled ST-LSTM steps.

    The kernels' gradient fusions are left out: each adds one weight
    gradient per step by design, so they grow with the sequence linearly
    and are not the recomputation that the fence prevents."""
    import jax

    layer = SpatioTemporalLSTM(3, filter_size=3)
    shape = (1, 4, 4, 3)
    layer.build(shape, shape, shape, shape)
    TestCase.randomize_weights(layer)
    rng = np.random.default_rng(2)
    xs = rng.normal(size=(steps, *shape)).astype("float32")

    def loss(trainable, xs):
        h = c = m = jax.numpy.zeros(shape)
        total = 0.0
        for step in range(steps):
            (h, c, m, _, _), _ = layer.stateless_call(
                trainable, [], xs[step], h, c, m
            )
            total = total + h.sum()
        return total

    trainable = [v.value for v in layer.trainable_variables]
    hlo = jax.jit(jax.grad(loss)).lower(trainable, xs).compile().as_text()
    feature_map = re.compile(
        r"= f32\[%s,\d+\]\S* fusion\(" % ",".join(map(str, shape[:3])))
    operands = [
        len(re.findall(r"%[\w.\-]+", line.split(" fusion(", 1)[1].split(")")[0]))
        for line in hlo.splitlines()
        if feature_map.search(line)
    ]
    return max(operands)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's fusion")
def test_jax_backward_fusions_do_not_grow_with_the_sequence():
    # Without the fence XLA recomputes the memories' gradient chains in
    # every consumer: the largest fusion takes more operands the more
    # steps there are. With it, a step's fusions are the same at 4 and 12.
    short, long = _largest_fusion(4), _largest_fusion(12)
    assert long == short, (short, long)


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's fusion")
def test_jax_backward_fusions_grow_without_the_fence(monkeypatch):
    # The check above can fail: with the fence taken out, the feature-map
    # fusions take more operands at 12 steps than at 4.
    monkeypatch.setattr(JaxFastPaths, "fusion_fence", lambda self, x: x)
    short, long = _largest_fusion(4), _largest_fusion(12)
    assert long > short, (short, long)
