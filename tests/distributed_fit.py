"""Trains a tiny PredRNN-V2 on one device or on 2 virtual CPU devices.

Run by tests/test_distribution.py in a fresh process (device set-up must
precede everything else): `python tests/distributed_fit.py MODE OUT.npz`
with MODE "none" or "data_parallel". Writes the fit history, the schedule
step, the weights and the sampling masks that the replicas drew.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from predrnn_keras.distribution import setup_distribution  # noqa: E402

ITERATIONS = 3
BATCH = 4


def tiny_model():
    from predrnn_keras.models import PredRNNV2

    # Before r_sampling_step_1 reverse scheduled sampling draws every input
    # with probability 0.5: the masks matter.
    return PredRNNV2(
        num_hidden=[4, 4],
        filter_size=3,
        patch_size=2,
        input_length=3,
        r_sampling_step_1=100,
        r_sampling_step_2=200,
        seed=5,
    )


def replica_masks(placement, frames):
    """The masks each replica draws at schedule step 0, as a list."""
    with placement.scope():
        model = tiny_model()
        model.build(frames.shape)
    if placement.strategy is None:
        # JAX (and one device): one global mask; replica r trains on rows
        # [r * b, (r + 1) * b) of the global batch.
        mask = keras.ops.convert_to_numpy(model.next_training_mask(frames))
        return np.split(mask, placement.num_replicas)
    import tensorflow as tf

    strategy = placement.strategy
    dataset = tf.data.Dataset.from_tensors(frames)
    batch = next(iter(strategy.experimental_distribute_dataset(dataset)))
    # As in `fit`: the replicas' steps inside one tf.function.
    draw = tf.function(lambda b: strategy.run(model.next_training_mask, (b,)))
    masks = draw(batch)
    return [np.asarray(m) for m in strategy.experimental_local_results(masks)]


def main():
    mode, out = sys.argv[1], sys.argv[2]
    table = {"mode": mode, "cpu_devices": 2 if mode != "none" else 0}
    placement = setup_distribution(table)
    import tensorflow as tf

    rng = np.random.default_rng(0)
    frames = rng.random((BATCH, 6, 8, 8, 1), dtype=np.float32)
    dataset = tf.data.Dataset.from_tensors(frames).repeat()
    keras.utils.set_random_seed(1)
    with placement.scope():
        model = tiny_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(
        placement.dataset(lambda i, n: dataset, BATCH),
        steps_per_epoch=ITERATIONS,
        epochs=1,
        verbose=0,
    )
    masks = replica_masks(placement, frames)
    np.savez(
        out,
        replicas=placement.num_replicas,
        loss=np.asarray(history.history["loss"]),
        mse=np.asarray(history.history["mse"]),
        decouple=np.asarray(history.history["decouple"]),
        sampling_step=int(keras.ops.convert_to_numpy(model.sampling_step)),
        iterations=int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        masks=np.stack(masks),
        **{f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())},
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
