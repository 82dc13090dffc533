"""The entry point: a recipe's `[data]` table to a tf.data pipeline."""

import dataclasses
from collections.abc import Mapping

import tensorflow as tf

from predrnn_keras.data import config_checks
from predrnn_keras.data import kinds
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.pipeline import make_dataset
from predrnn_keras.data.sequence_reader import SequenceReader


def data_kinds() -> tuple:
    """The names of the registered data kinds (`predrnn_keras.data.kinds`)."""
    return kinds.names()


def data_keys() -> dict:
    """Each registered kind's `[data]` keys, as docs/recipes.md shows them."""
    return {name: kinds.get(name).keys for name in kinds.names()}


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """The frames a `[data]` table yields.

    Attributes:
        kind: the reader.
        height: frame height in pixels.
        width: frame width in pixels.
        channels: channels per frame.
    """

    kind: str
    height: int
    width: int
    channels: int

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """(height, width, channels)."""
        return (self.height, self.width, self.channels)


def _check_int(name: str, value, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"Expected {name} to be an integer >= {low}. "
            f"Received: {name}={value!r}"
        )


def make_reader(
    config: Mapping, split: str, total_length: int = 20, seed: int = 0
) -> SequenceReader:
    """Builds the reader that a `[data]` table names, for one split.

    Args:
        config: the recipe's `[data]` table; `kind` picks the reader, one of
            `data_kinds()`, and the other keys are that reader's (see
            `build_dataset`).
        split: "train", "val" or "test".
        total_length: frames per sequence.
        seed: the seed of generated training sequences.

    Returns:
        The reader: how many sequences, their frame shape, and `read_batch`.

    Raises:
        ValueError: an unknown kind, key or value.
        DataError: data that cannot be read as configured.
    """
    kind = kinds.kind_of(config)
    if split not in config_checks.SPLITS:
        raise ValueError(
            f"Expected split to be one of {', '.join(config_checks.SPLITS)}. "
            f"Received: split={split!r}"
        )
    _check_int("total_length", total_length, 2)
    _check_int("seed", seed, 0)
    return kind.make_reader(config, split, total_length, seed)


def build_dataset(
    config: Mapping,
    split: str,
    batch_size: int = 8,
    total_length: int = 20,
    patch_size: int = 1,
    seed: int = 0,
    start_batch: int = 0,
    shard_index: int = 0,
    num_shards: int = 1,
    reader=None,
) -> tf.data.Dataset:
    """Streams a split of the data a recipe's `[data]` table names.

    `config["kind"]` picks the reader:

    - "moving_mnist": digits bouncing in a canvas, generated on the fly
      (keys `num_digits`, `image_size`, `digit_size`, `mnist_path`,
      `num_sequences`, `eval_seed`).
    - "mnist_npz": the reference's Moving MNIST .npz (`clips`, `dims`,
      `input_raw_data`).
    - "mnist_npy": time-first uint8 arrays like `mnist_test_seq.npy`.
    - "kth": KTH action from the reference's PNG frames or the .avi videos
      (keys `path`, `image_size`, `cache_dir`, `actions`, `train_persons`,
      `val_persons`, `test_persons`).
    - "frames": your own sequences as folders of PNG/JPEG frames or videos
      (keys `image_size`, `channels`, `stride`, `value_range`, `cache_dir`).
    - "array": your own sequences as an .npy/.npz array (N, T, H, W[, C])
      (keys `key`, `stride`, `value_range`).
    - "radar": a time series of radar files read through pysteps'
      importers, in mm/h or dBZ through the dB transform (keys `path`,
      `pattern`, `importer`, `timestep`, `train_times`, ...; docs/radar.md).

    The file readers take `path` with `split_fractions`, or `train_path`,
    `val_path` and `test_path`. Files are memory-mapped a batch at a time,
    so memory does not grow with the size of the data. The pipeline works
    under every Keras backend: it uses numpy and tf.data only.

    Args:
        config: the `[data]` table, e.g. `{"kind": "moving_mnist"}`.
        split: "train": endless, reshuffled every epoch, full batches;
            "val" or "test": one pass in a fixed order, the last batch may
            be smaller.
        batch_size: sequences per batch.
        total_length: frames per sequence (evaluation may read longer
            sequences than training, e.g. 30 on KTH for 10 -> 20).
        patch_size: the model's patch size, which must divide the frame
            height and width.
        seed: the seed of the training order and of generated training
            sequences: the same seed gives the same batches.
        start_batch: the number of the first batch, to resume training:
            the batches before it are skipped without being read.
        shard_index, num_shards: read only part `shard_index` of
            `num_shards` of every batch (one part per worker of a
            multi-worker run): `batch_size` stays the global batch size, the
            shards of a batch together are the batch the unsharded pipeline
            yields, and no two shards read the same sequence.
        reader: the reader `make_reader(config, split, total_length, seed)`
            returns, where the caller needs it too; made here when None.

    Returns:
        A prefetching `tf.data.Dataset` of float32 tensors
        (batch, total_length, height, width, channels) in [0, 1].

    Raises:
        ValueError: an unknown kind, key or value, or an argument out of
            range.
        DataError: data that cannot be read as configured (a `ValueError`
            whose one-line message names the file).

    Example:

    >>> dataset = build_dataset({"kind": "moving_mnist"}, "train")
    >>> batch = next(iter(dataset))   # (8, 20, 64, 64, 1)
    """
    _check_int("batch_size", batch_size, 1)
    _check_int("patch_size", patch_size, 1)
    _check_int("start_batch", start_batch, 0)
    _check_int("num_shards", num_shards, 1)
    _check_int("shard_index", shard_index, 0)
    if reader is None:
        reader = make_reader(config, split, total_length, seed)
    height, width = reader.frame_shape[:2]
    if height % patch_size or width % patch_size:
        raise DataError(
            reader.name,
            f"frames of {height}x{width} are not divisible by patch_size="
            f"{patch_size}; set image_size in [data] to a multiple of it",
        )
    print(f"Data {split}: {reader.summary}")
    return make_dataset(
        reader,
        split == "train",
        batch_size,
        seed,
        start_batch,
        shard_index=shard_index,
        num_shards=num_shards,
    )


def dataset_info(config: Mapping) -> DataInfo:
    """Returns the frame shape a `[data]` table yields, reading no frames.

    Only file headers are read, except for "frames" without both
    `image_size` and `channels`, where the first frame is decoded.

    Args:
        config: the `[data]` table.

    Returns:
        The kind, height, width and channels.
    """
    kind = kinds.kind_of(config)
    config_checks.check_keys(config, kind.name, kind.keys)
    height, width, channels = kind.frame_shape(config)
    return DataInfo(kind.name, int(height), int(width), int(channels))
