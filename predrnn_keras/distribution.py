"""Data-parallel training on several devices and hosts, through the engines
Keras supports: `keras.distribution` on JAX and `tf.distribute` on
TensorFlow.

A recipe's `[distribution]` table says where training runs:

- `mode = "none"`: one device (the default).
- `mode = "data_parallel"`: every local device of one host (or the first
  `devices`). JAX: `keras.distribution.DataParallel`; TensorFlow:
  `tf.distribute.MirroredStrategy` (the GPUs, else the CPU devices).
- `mode = "multi_worker"`: several processes, usually one per host. JAX:
  `keras.distribution.initialize(coordinator_address, num_processes,
  process_id)` and then `DataParallel` over every device of every process;
  TensorFlow: `tf.distribute.MultiWorkerMirroredStrategy`, which reads the
  cluster from the `TF_CONFIG` environment variable.

The PyTorch backend has no multi-device support in this library yet; asking
for it is an error rather than a silent single-device run.

What stays the same as on one device: `train.batch_size` is the global
batch, split evenly over the replicas; `train.learning_rate` is used as
given (`learning_rate_scaling = "linear"` multiplies it by the number of
replicas, for users who raise the batch size with the replica count); the
schedule step advances once per global step; every replica gets its own
rows of the global sampling mask. A step on N replicas is the step of one
device on the same global batch, up to the order of float additions.

Every process builds its own input pipeline, which reads only its share of
every global batch (`build_dataset(..., shard_index, num_shards)`), so no two
processes read the same sequences.
"""

import contextlib
import dataclasses
import os
import re


class DistributionError(ValueError):
    """A `[distribution]` setting this machine or backend cannot honour; the
    message names the setting and what to change."""


@dataclasses.dataclass
class Placement:
    """Where this process trains, as `setup_distribution` arranged it.

    Attributes:
        mode: "none", "data_parallel" or "multi_worker".
        backend: the Keras backend.
        num_replicas: replicas over all processes (devices holding a copy of
            the model), among which each global batch is split.
        num_workers: processes, each with its own input pipeline.
        worker_index: this process's number among them.
        is_chief: True for the one process that writes the run folder
            (checkpoints, state, TensorBoard logs, models).
        devices: names of the devices of the replicas.
        strategy: the `tf.distribute.Strategy` (TensorFlow), else None.
    """

    mode: str = "none"
    backend: str = "tensorflow"
    num_replicas: int = 1
    num_workers: int = 1
    worker_index: int = 0
    is_chief: bool = True
    devices: tuple = ()
    strategy: object = None

    @property
    def distributed(self) -> bool:
        return self.mode != "none"

    def scope(self):
        """The context in which to create (or load) and compile the model."""
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def check_batch_size(self, batch_size: int) -> None:
        """Raises unless the global batch splits evenly over the replicas."""
        for count, what in (
            (self.num_replicas, "replicas"),
            (self.num_workers, "processes"),
        ):
            if batch_size % count:
                raise DistributionError(
                    f"Recipe key train.batch_size={batch_size} is the global "
                    f"batch, split evenly over {count} {what}: expected a "
                    f"multiple of {count}."
                )

    def learning_rate(self, learning_rate: float, scaling: str) -> float:
        """The learning rate to train with under `scaling`."""
        if scaling == "linear":
            return learning_rate * self.num_replicas
        return learning_rate

    def describe(self, batch_size: int) -> str:
        """One line for the log: the engine, devices and batch split."""
        if not self.distributed:
            return "one device"
        engine = {
            ("jax", "data_parallel"): "keras.distribution.DataParallel",
            ("jax", "multi_worker"): "keras.distribution.DataParallel, "
            f"{self.num_workers} processes",
            ("tensorflow", "data_parallel"): "tf.distribute.MirroredStrategy",
            ("tensorflow", "multi_worker"): "tf.distribute."
            f"MultiWorkerMirroredStrategy, {self.num_workers} workers",
        }[(self.backend, self.mode)]
        shown = ", ".join(self.devices[:8])
        if len(self.devices) > 8:
            shown += ", ..."
        return (
            f"{self.mode} on {self.num_replicas} replicas ({engine}: {shown}); "
            f"global batch {batch_size} = {self.num_replicas} x "
            f"{batch_size // self.num_replicas}"
        )

    def dataset(self, build, batch_size: int):
        """The input `fit` takes, from `build(shard_index, num_shards)`.

        `build` returns a `tf.data.Dataset` of part `shard_index` of
        `num_shards` of each global batch of `batch_size`.
        """
        if self.backend == "tensorflow" and self.mode == "multi_worker":
            import tensorflow as tf

            def per_worker(context: tf.distribute.InputContext):
                per_replica = context.get_per_replica_batch_size(batch_size)
                shard = build(
                    context.input_pipeline_id, context.num_input_pipelines
                )
                if per_replica * context.num_input_pipelines != batch_size:
                    # Several replicas on this worker: consecutive slices.
                    shard = shard.rebatch(per_replica)
                return shard

            return self.strategy.distribute_datasets_from_function(per_worker)
        if self.backend == "jax" and self.num_workers > 1:
            return build(self.worker_index, self.num_workers)
        # One input pipeline: Keras splits each global batch over the local
        # replicas (consecutive slices, replica 0 first).
        return build(0, 1)


# Setting up -------------------------------------------------------------


def setup_distribution(table: dict, backend=None, process_id=None):
    """Applies a recipe's `[distribution]` table to this process.

    Call before the model is created and before TensorFlow or JAX has run
    anything (virtual CPU devices and multi-process set-up must come first).

    Args:
        table: the `[distribution]` table of a complete recipe.
        backend: the Keras backend (default: the active one).
        process_id: JAX `multi_worker`: this process's number (default: the
            `KERAS_DISTRIBUTION_PROCESS_ID` environment variable).

    Returns:
        A `Placement`.

    Raises:
        DistributionError: the backend or machine cannot do what is asked.
    """
    import keras

    backend = backend or keras.backend.backend()
    mode = table.get("mode", "none")
    if mode == "none":
        return Placement(backend=backend)
    if backend == "torch":
        raise DistributionError(
            f"distribution.mode={mode!r} is not supported on the PyTorch "
            "backend yet: this library trains on one device there. Use "
            "--backend jax or --backend tensorflow for several devices, or "
            "distribution.mode='none'."
        )
    if backend == "jax":
        return _setup_jax(table, mode, process_id)
    if backend == "tensorflow":
        return _setup_tensorflow(table, mode)
    raise DistributionError(
        f"distribution.mode={mode!r}: unknown Keras backend {backend!r}."
    )


def force_host_devices(count: int) -> None:
    """Asks XLA for `count` CPU devices (JAX); effective only before JAX has
    created its CPU backend."""
    flags = os.environ.get("XLA_FLAGS", "")
    flags = re.sub(r"--xla_force_host_platform_device_count=\d+", "", flags)
    os.environ["XLA_FLAGS"] = (
        f"{flags} --xla_force_host_platform_device_count={count}".strip()
    )


def _setup_jax(table, mode, process_id):
    if table.get("cpu_devices"):
        force_host_devices(table["cpu_devices"])
    if mode == "multi_worker":
        _initialize_jax_processes(table, process_id)
    return _jax_data_parallel(table, mode)


def _jax_data_parallel(table, mode):
    """`keras.distribution.DataParallel` over the replicas' devices."""
    import jax
    import keras

    chosen = _jax_devices(table)
    names = [f"{d.platform}:{d.id}" for d in chosen]
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=names, auto_shard_dataset=False)
    )
    return Placement(
        mode=mode,
        backend="jax",
        num_replicas=len(chosen),
        num_workers=jax.process_count(),
        worker_index=jax.process_index(),
        is_chief=jax.process_index() == 0,
        devices=tuple(names),
    )


def _initialize_jax_processes(table, process_id):
    """`keras.distribution.initialize` for JAX `multi_worker`, once each of
    its settings is found in the table or the environment."""
    import keras

    num_processes = table.get("num_processes") or None
    if (
        process_id is None
        and os.environ.get("KERAS_DISTRIBUTION_PROCESS_ID") is None
    ):
        raise DistributionError(
            "distribution.mode='multi_worker' on JAX needs this "
            "process's number: pass --process-id N (0 on the "
            "coordinator) or set KERAS_DISTRIBUTION_PROCESS_ID."
        )
    address = table.get("coordinator_address") or None
    if address is None and not os.environ.get(
        "KERAS_DISTRIBUTION_JOB_ADDRESSES"
    ):
        raise DistributionError(
            "distribution.mode='multi_worker' on JAX needs "
            "distribution.coordinator_address='HOST:PORT' (process 0's "
            "address) or KERAS_DISTRIBUTION_JOB_ADDRESSES."
        )
    if num_processes is None and not os.environ.get(
        "KERAS_DISTRIBUTION_NUM_PROCESSES"
    ):
        raise DistributionError(
            "distribution.mode='multi_worker' on JAX needs "
            "distribution.num_processes=N (the number of processes) or "
            "KERAS_DISTRIBUTION_NUM_PROCESSES."
        )
    try:
        keras.distribution.initialize(address, num_processes, process_id)
    except RuntimeError as error:
        raise DistributionError(
            "JAX multi-process initialisation failed "
            f"(coordinator {address}, process {process_id}): {error}"
        ) from None


def _jax_devices(table):
    """The JAX devices of the replicas: the first `devices` (default all)
    local devices of every process."""
    import jax

    count = table.get("cpu_devices")
    if count and jax.local_device_count() != count:
        raise DistributionError(
            f"distribution.cpu_devices={count}, but JAX already runs on "
            f"{jax.local_device_count()} local devices: it was started "
            "before the setting could apply. Set it before anything else "
            "uses JAX (train.py does), or set XLA_FLAGS="
            f"--xla_force_host_platform_device_count={count}."
        )
    wanted = table.get("devices") or jax.local_device_count()
    if wanted > jax.local_device_count():
        raise DistributionError(
            f"distribution.devices={wanted}, but this host has "
            f"{jax.local_device_count()} JAX devices "
            f"({', '.join(str(d) for d in jax.local_devices())})."
        )
    chosen = []
    for process in range(jax.process_count()):
        local = [d for d in jax.devices() if d.process_index == process]
        chosen += local[:wanted]
    return chosen


def _setup_tensorflow(table, mode):
    if table.get("cpu_devices"):
        _split_tensorflow_cpu(table["cpu_devices"])
    if mode == "data_parallel":
        return _tensorflow_data_parallel(table)
    return _tensorflow_multi_worker()


def _split_tensorflow_cpu(count):
    """Splits TensorFlow's CPU into `count` logical devices."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise DistributionError(
                f"distribution.cpu_devices={count}: TensorFlow was "
                "already running, so its CPU cannot be split any more. "
                "Set it before anything else uses TensorFlow (train.py "
                "does)."
            ) from None


def _tensorflow_data_parallel(table):
    """A `MirroredStrategy` over the first `devices` (default all) GPUs,
    else CPU devices."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU")
    devices = devices or tf.config.list_logical_devices("CPU")
    wanted = table.get("devices") or len(devices)
    if wanted > len(devices):
        raise DistributionError(
            f"distribution.devices={wanted}, but TensorFlow sees "
            f"{len(devices)} devices here "
            f"({', '.join(d.name for d in devices)})."
        )
    names = [d.name for d in devices[:wanted]]
    strategy = tf.distribute.MirroredStrategy(names)
    return Placement(
        mode="data_parallel",
        backend="tensorflow",
        num_replicas=strategy.num_replicas_in_sync,
        devices=tuple(names),
        strategy=strategy,
    )


def _tensorflow_multi_worker():
    """A `MultiWorkerMirroredStrategy` over the cluster of `TF_CONFIG`."""
    import tensorflow as tf

    if not os.environ.get("TF_CONFIG"):
        raise DistributionError(
            "distribution.mode='multi_worker' on TensorFlow reads the "
            "cluster from the TF_CONFIG environment variable, which is not "
            'set. Example: TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", '
            '"host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
        )
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except (ValueError, KeyError) as error:
        raise DistributionError(
            f"TF_CONFIG could not be used: {error}"
        ) from None
    resolver = strategy.cluster_resolver
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, resolver.task_id
    chiefs = cluster.get("chief", [])
    workers = cluster.get("worker", [])
    if task_type == "chief":
        index = 0
    else:
        index = len(chiefs) + task_id
    return Placement(
        mode="multi_worker",
        backend="tensorflow",
        num_replicas=strategy.num_replicas_in_sync,
        num_workers=len(chiefs) + len(workers),
        worker_index=index,
        is_chief=index == 0,
        devices=tuple(
            f"/job:{t}/task:{i}"
            for t in ("chief", "worker")
            for i in range(len(cluster.get(t, [])))
        ),
        strategy=strategy,
    )
