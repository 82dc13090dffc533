"""The interfaces of the seam, implemented with plain Keras ops.

`FastPaths` with every fast path off is what `fast_paths="off"` runs on any
backend; the backends' own classes override what they do faster. `Backend`
holds what a backend requires whatever the setting.
"""

import keras
from keras import ops


class FastPaths:
    """Plain Keras: every fast path off.

    Attributes:
        stacks_gate_convolutions: whether the ST-LSTM sums its gate
            convolutions as two stacked convolutions (without layer
            normalisation only).
    """

    stacks_gate_convolutions = False

    def default_unroll(self, compute_dtype):
        """Whether `PredRNN(unroll=None)` unrolls its time loop."""
        return False

    def prepare_kernels(self, layers, batch_gradients=False):
        """The kernels of `layers` prepared once for a whole sequence.

        The RNN calls this once per sequence and hands the result to every
        step, whose convolutions take their kernels from it. None here:
        each convolution prepares its kernel whenever it runs.

        Args:
            layers: built `FeatureMapConv2D` layers or `StackedConvolution`s.
            batch_gradients: bool, compute each kernel's gradient once for
                the sequence where the backend can.

        Returns:
            A `PreparedKernels` (`predrnn_keras.backends.kernel_reuse`), or
            None.
        """
        return None

    def batches_kernel_gradients(self, compute_dtype, unrolled):
        """Whether training computes each kernel's gradient once per
        sequence (`prepare_kernels(..., batch_gradients=True)`)."""
        return False

    def lay_out(self, kernel):
        """An `(kernel_h, kernel_w, in, out)` kernel as `convolution_op`
        reads it."""
        return kernel

    def convolution_op(self, conv, inputs, kernel):
        """`conv`'s convolution of NHWC `inputs` with a laid-out kernel."""
        return keras.layers.Conv2D.convolution_op(conv, inputs, kernel)

    def stacked_convolution(self, conv, inputs, kernel):
        """`conv.convolution_op` of `inputs` stacked on the channel axis."""
        return conv.convolution_op(ops.concatenate(inputs, axis=-1), kernel)

    def time_loop(self, rnn, sequences, initial_state, mask, cell_kwargs):
        """`(last_output, outputs, states)` of `rnn`'s time loop, or None
        for Keras' own loop.

        `cell_kwargs` are the keyword arguments of every step's cell call
        (`training`, the sequence's prepared `kernels`).
        """
        return None

    def fusion_fence(self, x):
        """`x`, through an op that a compiler cannot fuse across."""
        return x


class Backend:
    """What a backend requires of the model, fast paths or not."""

    # JAX's `train_step` takes and returns the state (`PredRNN.train_step`).
    stateless_train_step = False

    def replica_position(self):
        """`(replica_index, num_replicas)` of the running training step."""
        return 0, 1

    def num_replicas_in_sync(self):
        """The number of replicas whose gradients are summed."""
        return 1

    def logs_for_reduction(self, logs):
        """The step logs in a shape the trainer can reduce across replicas."""
        return logs
