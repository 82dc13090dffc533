"""The user's own sequences stored as an array in an .npy or .npz file."""

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.window_reader import WindowReader
from predrnn_keras.data.window_reader import check_split
from predrnn_keras.data.window_reader import uniform_windows

KEYS = {
    **config_checks.SPLIT_KEYS,
    "key": config_checks.DataKey(
        "a string",
        None,
        "the .npz member that holds the sequences; default: the only one",
    ),
    "stride": config_checks.STRIDE,
    "value_range": config_checks.VALUE_RANGE,
}


def open_array(path: Path, key: "str | None") -> MappedArray:
    """Opens the sequence array of an .npy file or of an .npz member.

    Args:
        path: the file.
        key: the .npz member; None takes the only member of the file.

    Returns:
        The array, memory-mapped, of shape (N, T, H, W) or (N, T, H, W, C).

    Raises:
        DataError: a missing file, an ambiguous or missing key, or a shape
            that is not that of sequences.
    """
    if path.suffix.lower() == ".npz":
        if key is None and path.is_file():
            try:
                with zipfile.ZipFile(path) as archive:
                    names = [n.removesuffix(".npy") for n in archive.namelist()]
            except zipfile.BadZipFile as err:
                raise DataError(
                    path, f"not an .npz (zip) file ({err})"
                ) from err
            if len(names) != 1:
                raise DataError(
                    path,
                    f"holds {len(names)} arrays ({', '.join(names)}); set key "
                    "in [data] to the one of the sequences",
                )
            key = names[0]
        array = MappedArray(path, key)
    elif path.suffix.lower() == ".npy":
        array = MappedArray(path)
    else:
        raise DataError(path, "expected an .npy or .npz file")
    if len(array.shape) not in (4, 5) or 0 in array.shape:
        raise DataError(
            array.name,
            f"array of shape {array.shape}; expected sequences (N, T, H, W) "
            "or (N, T, H, W, C)",
        )
    return array


def array_reader(
    config: Mapping, split: str, total_length: int
) -> WindowReader:
    """Builds the reader of the user's sequences in .npy/.npz arrays.

    Each file holds sequences (N, T, H, W) (one channel) or (N, T, H, W, C),
    of any frame size and channel count; each sequence gives the windows of
    `total_length` consecutive frames that start every `stride` frames.
    Config keys: `KEYS` (docs/recipes.md).

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".
        total_length: frames per sequence.

    Returns:
        The reader.

    Raises:
        DataError: a missing file, wrong key or shape, sequences shorter than
            `total_length`, files of different frame shapes, or an empty
            split.
    """
    config_checks.check_keys(config, "array", KEYS)
    paths, fractions = config_checks.split_sources(config, split)
    key = config.get("key")
    if key is not None and not isinstance(key, str):
        raise ValueError(
            f"Expected [data] key to be a string. Received: key={key!r}"
        )
    stride = config_checks.get_int(config, "stride", total_length)
    value_range = config_checks.get_value_range(config)
    arrays = [open_array(path, key) for path in paths]
    for array in arrays:
        if array.shape[1] < total_length:
            raise DataError(
                array.name,
                f"sequences of {array.shape[1]} frames, fewer than "
                f"total_length={total_length}",
            )
        first = arrays[0]
        if (array.shape[2:], array.dtype) != (first.shape[2:], first.dtype):
            raise DataError(
                array.name,
                f"frames of {array.shape[2:]} {array.dtype}, but {first.name} "
                f"has {first.shape[2:]} {first.dtype}",
            )
    counts = [array.shape[0] for array in arrays]
    starts = [
        np.arange(0, array.shape[1] - total_length + 1, stride)
        for array in arrays
    ]
    windows = uniform_windows(counts, starts, fractions)
    name = ", ".join(array.name for array in arrays)
    check_split(windows, name, split, sum(counts), fractions)
    return WindowReader(
        name, arrays, "NTHWC", windows, total_length, value_range
    )
