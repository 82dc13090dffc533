"""A fence that XLA cannot fuse across, for the memories on JAX."""

import keras
from keras import ops


def fusion_fence(x):
    """Returns `x` unchanged, through an op that XLA's CPU fusion cannot cross.

    Why: in the backward pass of an unrolled ST-LSTM the gradients of the
    memories form chains of element-wise products and sums, one link per
    time step for `c` and one per layer and step for `m`
    (`dm_old = dm_new * f' + ...`). XLA duplicates cheap element-wise
    producers into every consumer, so each gate gradient recomputed the
    chain from the last step down: fusions with about 150 operands, work
    quadratic in the sequence length, a quarter of the operation time of
    the small configuration's training step (JAX's profiler, JAX 0.10,
    CPU). XLA's CPU compiler drops `optimization_barrier` before fusion, so
    the fence is a product with the identity matrix, which fusion does not
    enter: the chain is computed once per step, as on TensorFlow and
    PyTorch.

    The product is exact (each output is one input times 1.0 plus zeros;
    only a `-0.0` comes back as `0.0`) and so is its gradient, and it costs
    `2 * size * channels` FLOPs, under 0.5% of a paper-configuration step.
    TensorFlow and PyTorch get `x` itself: their graphs do not duplicate
    work this way, and there the product would be pure cost.
    """
    if keras.backend.backend() != "jax":
        return x
    identity = ops.eye(x.shape[-1], dtype=x.dtype)
    return ops.matmul(x, identity)
