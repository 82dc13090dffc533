"""The tf.data pipeline that streams batches from a `SequenceReader`."""

import math
import threading

import numpy as np
import tensorflow as tf

from predrnn_keras.data.sequence_reader import SequenceReader


class BatchOrder:
    """Which sequences each batch holds, computed from the batch number alone.

    The training order is a new random permutation of all sequences for each
    epoch, drawn from (seed, epoch), and batches run on across epoch
    boundaries without end. It shuffles indices, not data: the effect of an
    infinite shuffle buffer at the memory cost of one integer per sequence,
    and batch `b` is found without producing batches 0..b-1, so resuming at
    `start_batch` decodes nothing extra. An endless reader (num_sequences
    None) gets positions 0, 1, 2, ... which it turns into new sequences.
    Evaluation order is 0..num_sequences-1 with a smaller last batch.

    Args:
        num_sequences: sequences in the split (None: endless).
        batch_size: sequences per batch.
        seed: the seed of the permutations.
        shuffle: permute (training) or keep the order (evaluation).
    """

    def __init__(
        self,
        num_sequences: "int | None",
        batch_size: int,
        seed: int,
        shuffle: bool,
    ):
        self.num_sequences = num_sequences
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self._permutations = {}
        self._lock = threading.Lock()

    def _permutation(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._permutations:
                # Batches are read in parallel around an epoch boundary:
                # keep the two latest epochs.
                if len(self._permutations) >= 2:
                    del self._permutations[min(self._permutations)]
                rng = np.random.default_rng([self.seed, epoch])
                self._permutations[epoch] = rng.permutation(self.num_sequences)
            return self._permutations[epoch]

    def indices(self, batch: int) -> np.ndarray:
        """Returns the sequence indices of batch number `batch`."""
        positions = np.arange(
            batch * self.batch_size, (batch + 1) * self.batch_size
        )
        if not self.shuffle:
            return positions[positions < self.num_sequences]
        if self.num_sequences is None:
            return positions
        epochs, offsets = np.divmod(positions, self.num_sequences)
        out = np.empty_like(positions)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            out[mask] = self._permutation(int(epoch))[offsets[mask]]
        return out


def make_dataset(
    reader: SequenceReader,
    train: bool,
    batch_size: int,
    seed: int,
    start_batch: int,
    shard_index: int = 0,
    num_shards: int = 1,
) -> tf.data.Dataset:
    """Streams batches of `reader` through tf.data.

    Args:
        reader: the sequences.
        train: endless, shuffled, full batches (True), or one pass in order
            with a smaller last batch (False).
        batch_size: sequences per batch.
        seed: the seed of the training order.
        start_batch: the number of the first batch: earlier ones are skipped
            without being read.
        shard_index, num_shards: this worker's share of each batch. Batch
            `b` of shard `i` holds part `i` of `num_shards` consecutive parts
            of batch `b` of the whole pipeline: the shards of one batch
            together are the global batch, and no two shards read the same
            sequence. `batch_size` is the global batch size (for training a
            multiple of `num_shards`).

    Returns:
        A prefetching `tf.data.Dataset` of float32 batches
        (batch, total_length, height, width, channels).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(
            f"Expected 0 <= shard_index < num_shards. Received: "
            f"shard_index={shard_index}, num_shards={num_shards}"
        )
    if train and batch_size % num_shards:
        raise ValueError(
            f"Expected the batch size to be a multiple of the number of "
            f"shards. Received: batch_size={batch_size}, "
            f"num_shards={num_shards}"
        )
    order = BatchOrder(reader.num_sequences, batch_size, seed, shuffle=train)
    if train:
        numbers = tf.data.Dataset.counter(start_batch)
    else:
        count = math.ceil(reader.num_sequences / batch_size)
        numbers = tf.data.Dataset.range(start_batch, max(start_batch, count))

    def load(number):
        indices = order.indices(int(number))
        if num_shards > 1:
            indices = np.array_split(indices, num_shards)[shard_index]
        return reader.read_batch(indices)

    shape = (
        batch_size // num_shards if train else None,
        reader.total_length,
        *reader.frame_shape,
    )

    def to_batch(number):
        batch = tf.numpy_function(load, [number], tf.float32, stateful=False)
        return tf.ensure_shape(batch, shape)

    dataset = numbers.map(
        to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )
    return dataset.prefetch(tf.data.AUTOTUNE)
