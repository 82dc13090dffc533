"""Moving MNIST in the reference's .npz format: reader and writer.

An .npz of this format holds `clips` (int32 (2, num_sequences, 2): for the
input part [0] and the output part [1] of each sequence, its (start, length)
in the frame array), `dims` ((1, 3): channels, height, width of a frame) and
`input_raw_data` (float32 frames (num_frames, channels, height, width) in
[0, 1]). A sequence is `total_length` frames from its input part's start, as
the reference reads it.
"""

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.mapped_array import load_npz_arrays
from predrnn_keras.data.window_reader import WindowReader
from predrnn_keras.data.window_reader import check_split

KEYS = config_checks.SPLIT_KEYS
_EXPECTED = "the reference Moving MNIST keys clips, dims, input_raw_data"


def _open_npz(path: Path, total_length: int):
    """Returns the frames of one file and the start of each sequence."""
    small = load_npz_arrays(path, ("clips", "dims"), _EXPECTED)
    clips, dims = small["clips"], small["dims"]
    frames = MappedArray(path, "input_raw_data")
    if clips.ndim != 3 or clips.shape[0] != 2 or clips.shape[2] != 2:
        raise DataError(
            path,
            f"clips has shape {clips.shape}; expected (2, num_sequences, 2)",
        )
    if dims.shape != (1, 3) or len(frames.shape) != 4:
        raise DataError(
            path,
            f"dims has shape {dims.shape} and input_raw_data {frames.shape}; "
            "expected (1, 3) and (num_frames, channels, height, width)",
        )
    if tuple(dims[0]) != frames.shape[1:]:
        raise DataError(
            path,
            f"dims {tuple(int(d) for d in dims[0])} differ from the frames "
            f"of input_raw_data {frames.shape[1:]} (channels, height, width)",
        )
    starts = clips[0, :, 0].astype(np.int64)
    lengths = clips[0, :, 1].astype(np.int64) + clips[1, :, 1]
    if len(starts) and lengths.min() < total_length:
        raise DataError(
            path,
            f"sequences of {lengths.min()} frames, fewer than "
            f"total_length={total_length}",
        )
    if len(starts) and (
        starts.min() < 0 or starts.max() + total_length > frames.shape[0]
    ):
        raise DataError(
            path,
            f"clips reach frame {starts.max() + total_length - 1} but "
            f"input_raw_data has {frames.shape[0]} frames",
        )
    return frames, starts


def mnist_npz_reader(
    config: Mapping, split: str, total_length: int
) -> WindowReader:
    """Builds the reader of reference-format Moving MNIST .npz files.

    Config keys: `KEYS` (docs/recipes.md); a list of files is read as one,
    as the reference concatenates them.

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".
        total_length: frames per sequence.

    Returns:
        The reader.

    Raises:
        DataError: a missing file, wrong keys or shapes, or files of
            different frame shapes.
    """
    config_checks.check_keys(config, "mnist_npz", KEYS)
    paths, fractions = config_checks.split_sources(config, split)
    arrays, windows = [], []
    for number, path in enumerate(paths):
        frames, starts = _open_npz(path, total_length)
        if frames.shape[1:] != (arrays or [frames])[0].shape[1:]:
            raise DataError(
                path,
                f"frames of {frames.shape[1:]} (channels, height, width), "
                f"but {paths[0]} has {arrays[0].shape[1:]}",
            )
        arrays.append(frames)
        windows.extend((number, 0, start) for start in starts)
    windows = np.array(windows, np.int64).reshape(-1, 3)
    selected = windows[config_checks.fraction_slice(len(windows), fractions)]
    name = ", ".join(map(str, paths))
    check_split(selected, name, split, len(windows), fractions)
    return WindowReader(name, arrays, "FCHW", selected, total_length)


def write_mnist_npz(
    path: "str | os.PathLike[str]",
    sequences,
    input_length: int,
    overwrite: bool = False,
) -> None:
    """Writes sequences in the reference's Moving MNIST .npz format.

    The frames stream to disk a sequence at a time, uncompressed, so a
    memory-mapped array larger than memory can be converted and the file can
    later be read by memory mapping.

    Args:
        path: the .npz file to write.
        sequences: array-like (num_sequences, T, height, width) or
            (num_sequences, T, height, width, channels), uint8 (divided by
            255) or floats in [0, 1].
        input_length: context frames of each sequence (the `clips` input
            part); the other T - input_length frames are the output part.
        overwrite: replace an existing file.

    Raises:
        ValueError: a wrong shape, input_length, or values outside [0, 1].
        FileExistsError: `path` exists and `overwrite` is False.

    Example:

    >>> sequences = np.zeros((100, 20, 64, 64), np.uint8)
    >>> write_mnist_npz("my-moving-mnist.npz", sequences, input_length=10)
    """
    sequences = np.asarray(sequences)
    if sequences.ndim == 4:
        sequences = sequences[..., None]
    if sequences.ndim != 5 or 0 in sequences.shape:
        raise ValueError(
            "Expected sequences of shape (num_sequences, T, height, width"
            f"[, channels]). Received: shape {sequences.shape}"
        )
    count, length, height, width, channels = sequences.shape
    if not 0 < input_length < length:
        raise ValueError(
            f"Expected input_length from 1 to {length - 1} (T={length}). "
            f"Received: input_length={input_length}"
        )
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(
            f"{path} exists; pass overwrite=True to replace it"
        )
    starts = np.arange(count, dtype=np.int32) * length
    clips = np.zeros((2, count, 2), np.int32)
    clips[0, :, 0], clips[0, :, 1] = starts, input_length
    clips[1, :, 0], clips[1, :, 1] = (
        starts + input_length,
        length - input_length,
    )
    dims = np.array([[channels, height, width]], np.int32)
    scale = 1 / 255 if sequences.dtype == np.uint8 else 1.0
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)),
        "fortran_order": False,
        "shape": (count * length, channels, height, width),
    }
    staged = f"{os.fspath(path)}.{os.getpid()}.tmp"
    try:
        _write_members(staged, sequences, clips, dims, header, scale)
        os.replace(staged, path)
    finally:
        if os.path.exists(staged):
            os.remove(staged)


def _write_members(path, sequences, clips, dims, header, scale) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key, array in (("clips", clips), ("dims", dims)):
            with zf.open(f"{key}.npy", "w") as member:
                np.lib.format.write_array(member, array)
        with zf.open("input_raw_data.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            for number, sequence in enumerate(sequences):
                frames = (sequence * scale).astype(np.float32)
                if frames.min() < 0 or frames.max() > 1:
                    raise ValueError(
                        "Expected uint8 sequences or floats in [0, 1]. "
                        f"Received: values from {frames.min():g} to "
                        f"{frames.max():g} in sequence {number}"
                    )
                member.write(frames.transpose(0, 3, 1, 2).tobytes())
