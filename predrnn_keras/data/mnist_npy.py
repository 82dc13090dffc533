"""Moving MNIST in the layout of `mnist_test_seq.npy`: uint8, time first."""

from collections.abc import Mapping

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.window_reader import WindowReader
from predrnn_keras.data.window_reader import check_split
from predrnn_keras.data.window_reader import uniform_windows

KEYS = config_checks.SPLIT_KEYS


def mnist_npy_reader(
    config: Mapping, split: str, total_length: int
) -> WindowReader:
    """Builds the reader of time-first uint8 arrays like `mnist_test_seq.npy`.

    The standard file is uint8 (20, 10000, 64, 64): frame, sequence, height,
    width. It is memory-mapped; a sequence is its first `total_length`
    frames. Config keys: `KEYS` (docs/recipes.md); `split_fractions`
    [0, 0, 1] makes the whole file the test set.

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".
        total_length: frames per sequence.

    Returns:
        The reader.

    Raises:
        DataError: a missing file, a wrong dtype or shape, sequences shorter
            than `total_length`, or an empty split.
    """
    config_checks.check_keys(config, "mnist_npy", KEYS)
    paths, fractions = config_checks.split_sources(config, split)
    arrays = []
    for path in paths:
        array = MappedArray(path)
        if array.dtype != np.uint8 or len(array.shape) != 4:
            raise DataError(
                path,
                f"{array.dtype} array of shape {array.shape}; expected uint8 "
                "(T, num_sequences, height, width), time first",
            )
        if array.shape[0] < total_length:
            raise DataError(
                path,
                f"sequences of {array.shape[0]} frames, fewer than "
                f"total_length={total_length}",
            )
        if arrays and array.shape[2:] != arrays[0].shape[2:]:
            raise DataError(
                path,
                f"frames of {array.shape[2:]}, but {paths[0]} has "
                f"{arrays[0].shape[2:]}",
            )
        arrays.append(array)
    counts = [array.shape[1] for array in arrays]
    first_frame = [np.zeros(1, np.int64)] * len(counts)
    windows = uniform_windows(counts, first_frame, fractions)
    name = ", ".join(map(str, paths))
    check_split(windows, name, split, sum(counts), fractions)
    return WindowReader(name, arrays, "TNHW", windows, total_length)
