"""JAX: its fast paths, and its stateless training step."""

from keras import ops

from predrnn_keras.backends.kernel_reuse import KernelReuse
from predrnn_keras.backends.plain import Backend


class JaxFastPaths(KernelReuse):
    """An unrolled loop, kernels prepared once per sequence, stacked gate
    convolutions, and a fence that keeps XLA from fusing the memories'
    gradient chains into every gate."""

    stacks_gate_convolutions = True

    def default_unroll(self, compute_dtype):
        # XLA's rolled loops are many times slower on CPU.
        return True

    def fusion_fence(self, x):
        # XLA duplicates cheap element-wise producers into every consumer,
        # so each gate's backward fusion would recompute the memories'
        # gradient chain from the last step down (work quadratic in the
        # sequence length). XLA's CPU compiler drops
        # `optimization_barrier` before fusion; a product with the identity
        # matrix is exact (but for -0.0), has an exact gradient and is not
        # entered by fusion.
        identity = ops.eye(x.shape[-1], dtype=x.dtype)
        return ops.matmul(x, identity)


class JaxBackend(Backend):
    """JAX's `train_step` is a pure function of the training state."""

    stateless_train_step = True


FAST_PATHS = JaxFastPaths
BACKEND = JaxBackend
