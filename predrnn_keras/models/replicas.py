"""Where a training step runs among synchronous replicas.

Under JAX (`keras.distribution`) and on one device, a training step sees the
whole global batch, so there is one "replica". Under a `tf.distribute`
strategy the TensorFlow trainer runs `train_step` once per replica on that
replica's slice of the global batch; this module tells the model which slice
it holds so that the sampling masks of the replicas are the matching rows of
one global mask, and the loss is scaled as `tf.distribute` expects.

TensorFlow is imported only when the TensorFlow backend is active, as Keras
itself does for `tf.distribute`.
"""

import keras


def replica_position():
    """Returns `(replica_index, num_replicas)` of the running step.

    `(0, 1)` on JAX and PyTorch, on one device, and outside a replica
    context. `replica_index` may be a tensor.
    """
    if keras.backend.backend() != "tensorflow":
        return 0, 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:  # cross-replica context
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def num_replicas_in_sync():
    """The number of replicas whose gradients `tf.distribute` sums (1 off
    TensorFlow or without a strategy)."""
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _multi_worker_tf_strategy():
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict() if resolver else {}
    return sum(len(tasks) for tasks in cluster.values()) > 1


def logs_for_reduction(logs):
    """Returns step logs in the shape Keras' TensorFlow trainer can reduce.

    Across several TensorFlow workers, Keras reduces the step logs with
    `strategy.reduce("MEAN", value, axis=0)`, which fails on the scalar logs
    of every model (tensorflow/tensorflow#72388). Logs of shape `(1,)` reduce
    to the replicas' mean, a scalar. Elsewhere the logs are returned as is.
    """
    if keras.backend.backend() != "tensorflow":
        return logs
    if not _multi_worker_tf_strategy():
        return logs
    return {
        name: keras.ops.reshape(value, (1,)) if len(value.shape) == 0 else value
        for name, value in logs.items()
    }
