"""TensorFlow: its fast paths and its replicas under `tf.distribute`."""

import keras
import tensorflow as tf

from predrnn_keras.backends.kernel_reuse import BatchedKernelGradient
from predrnn_keras.backends.kernel_reuse import KernelReuse
from predrnn_keras.backends.plain import Backend


class TensorFlowFastPaths(KernelReuse):
    """Kernels prepared once per sequence, stacked gate convolutions that
    stack their inputs again for the gradient, and, in bfloat16 with an
    unrolled loop, batched kernel gradients."""

    stacks_gate_convolutions = True

    def default_unroll(self, compute_dtype):
        return compute_dtype == "bfloat16"

    def batches_kernel_gradients(self, compute_dtype, unrolled):
        # A rolled loop's step tensors live inside `tf.while_loop`, out of
        # reach of one gradient over all steps.
        return compute_dtype == "bfloat16" and bool(unrolled)

    def batched_gradient(self, layer):
        return TensorFlowBatchedKernelGradient(layer, self)

    def stacked_convolution(self, conv, inputs, kernel):
        # The backward pass keeps the inputs as they are (the layer's
        # states, kept anyway) and stacks them again when the gradient
        # runs, instead of keeping each step's stacked copy.
        paths = self

        @tf.custom_gradient
        def convolve(kernel, *inputs):
            outputs = conv.convolution_op(tf.concat(inputs, axis=-1), kernel)

            def gradient(output_gradient):
                # Not before the gradient arrives: the backward loop runs
                # many iterations at once, and a stack that needs only the
                # saved inputs would be built ahead for all of them.
                with tf.control_dependencies([output_gradient]):
                    stacked = tf.concat(inputs, axis=-1)
                input_gradient, kernel_gradient = paths.convolution_gradients(
                    conv, stacked, kernel, output_gradient, inputs_too=True
                )
                sizes = [x.shape[-1] for x in inputs]
                return [kernel_gradient, *tf.split(input_gradient, sizes, -1)]

            return outputs, gradient

        return convolve(kernel, *inputs)

    def convolution_gradients(
        self, layer, inputs, kernel, output_gradient, inputs_too
    ):
        geometry = dict(
            strides=[1, *layer.strides, 1],
            padding=layer.padding.upper(),
            dilations=[1, *layer.dilation_rate, 1],
        )
        kernel_gradient = tf.raw_ops.Conv2DBackpropFilter(
            input=inputs,
            filter_sizes=tf.shape(kernel),
            out_backprop=output_gradient,
            **geometry,
        )
        input_gradient = None
        if inputs_too:
            input_gradient = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(inputs),
                filter=kernel,
                out_backprop=output_gradient,
                **geometry,
            )
        return input_gradient, kernel_gradient


class TensorFlowBatchedKernelGradient(BatchedKernelGradient):
    """`BatchedKernelGradient` through `tf.custom_gradient`.

    The steps convolve with the gated kernel itself, so TensorFlow still
    builds the per-step weight gradients; nothing consumes them and a
    `tf.function` prunes them. Only for a loop unrolled in Python.
    """

    def gate(self, kernel):
        @tf.custom_gradient
        def gate(kernel):
            def gradient(unused_sum_of_steps):
                return self.kernel_gradient(kernel)

            return tf.identity(kernel), gradient

        return gate(kernel)

    def capture(self, inputs, outputs):
        index = self.next_step()
        self.inputs[index] = inputs

        @tf.custom_gradient
        def capture(outputs):
            def gradient(output_gradient):
                self.output_gradients[index] = output_gradient
                return output_gradient

            return tf.identity(outputs), gradient

        return capture(outputs)


class TensorFlowBackend(Backend):
    """Replicas of `tf.distribute`: the TensorFlow trainer runs
    `train_step` once per replica on that replica's slice of the batch."""

    def replica_position(self):
        context = tf.distribute.get_replica_context()
        if context is None:  # cross-replica context
            return 0, 1
        return context.replica_id_in_sync_group, context.num_replicas_in_sync

    def num_replicas_in_sync(self):
        return tf.distribute.get_strategy().num_replicas_in_sync

    def logs_for_reduction(self, logs):
        # Across several workers Keras reduces the step logs with
        # `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
        # (tensorflow/tensorflow#72388); logs of shape (1,) reduce to the
        # replicas' mean.
        if not _multi_worker():
            return logs
        return {
            name: keras.ops.reshape(value, (1,))
            if len(value.shape) == 0
            else value
            for name, value in logs.items()
        }


def _multi_worker():
    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict() if resolver else {}
    return sum(len(tasks) for tasks in cluster.values()) > 1


FAST_PATHS = TensorFlowFastPaths
BACKEND = TensorFlowBackend
