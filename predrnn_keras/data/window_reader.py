"""Sequences cut as windows of consecutive frames from arrays on disk."""

import sys

import numpy as np

from predrnn_keras.data.config_checks import fraction_slice
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.sequence_reader import SequenceReader

# Axis orders of the arrays a window is cut from. N: sequence, T: frame
# within a sequence, F: frame of a flat frame array, C: channel (missing in
# a 4-D "NTHWC" array: one channel).
LAYOUTS = ("NTHWC", "TNHW", "FCHW", "FHWC")


def value_scale(
    dtype: np.dtype, value_range: "tuple[float, float] | None", name: str
) -> tuple[float, float]:
    """Returns the raw values (low, high) that map to 0 and 1.

    Without `value_range`, unsigned integers span their dtype (uint8: 0-255)
    and floats and booleans are taken to be in [0, 1] already.

    Raises:
        DataError: a signed integer dtype without `value_range`.
    """
    if value_range is not None:
        return value_range
    if np.issubdtype(dtype, np.unsignedinteger):
        return (0.0, float(np.iinfo(dtype).max))
    if np.issubdtype(dtype, np.floating) or dtype == np.bool_:
        return (0.0, 1.0)
    raise DataError(
        name,
        f"dtype {dtype} has no implied value range; set value_range = "
        "[low, high] in [data]",
    )


class WindowReader(SequenceReader):
    """Reads windows of `total_length` frames from memory-mapped arrays.

    Each window is a row (array, sequence, start) of `windows`: frames
    start..start+total_length-1 of one sequence of one array. Arrays are
    mapped per batch and unmapped after it, so memory holds one batch,
    whatever the size of the files. Values are scaled to [0, 1] by
    `value_scale`; with an explicit `value_range` they are also clipped, and
    without one float data outside [0, 1] raises `DataError`. NaN or
    infinite values raise `DataError` when the batch is read, naming the
    file, sequence and frame; the first constant frame met is reported on
    stderr (a frame that carries no motion is often a fault of the data).

    Args:
        name: the source, for messages.
        arrays: the arrays, all of the same frame shape and dtype.
        layout: their axis order, one of `LAYOUTS`.
        windows: int64 array (num_sequences, 3) of (array, sequence, start).
        total_length: frames per window.
        value_range: raw (low, high) mapped to (0, 1), or None to infer it
            from the dtype.
        details: see `SequenceReader`.
    """

    def __init__(
        self,
        name: str,
        arrays: list[MappedArray],
        layout: str,
        windows: np.ndarray,
        total_length: int,
        value_range: "tuple[float, float] | None" = None,
        details: str = "",
    ):
        if layout not in LAYOUTS:
            raise ValueError(
                f"Expected layout to be one of {', '.join(LAYOUTS)}. "
                f"Received: layout={layout!r}"
            )
        shape = arrays[0].shape
        frame_shape = {
            "NTHWC": (*shape[2:], 1)[:3],
            "TNHW": (*shape[2:], 1),
            "FCHW": (*shape[2:], shape[1]),
            "FHWC": shape[1:],
        }[layout]
        super().__init__(name, len(windows), total_length, frame_shape, details)
        self.arrays = arrays
        self.layout = layout
        self.windows = np.asarray(windows, np.int64).reshape(-1, 3)
        self.explicit_range = value_range is not None
        self.low, self.high = value_scale(arrays[0].dtype, value_range, name)
        # Integers scaled by their dtype's range cannot leave [0, 1]; floats
        # taken as [0, 1] are checked batch by batch.
        self.check_range = value_range is None and np.issubdtype(
            arrays[0].dtype, np.floating
        )
        self.check_finite = np.issubdtype(arrays[0].dtype, np.floating)
        self.constant_reported = False

    def where(self, window, offset: int) -> str:
        """`file: sequence S, frame F` of frame `offset` of `window`."""
        array_id, sequence, start = (int(v) for v in window)
        name = self.arrays[array_id].name
        frame = start + offset
        if self.layout in ("NTHWC", "TNHW"):
            return f"{name}: sequence {sequence}, frame {frame}"
        return f"{name}: frame {frame}"

    def _check_values(self, batch, raw: np.ndarray) -> None:
        """Raises on NaN / infinite or (unscaled floats) out-of-range frames
        of the raw batch; reports the first constant frame."""
        frames = raw.reshape(*raw.shape[:2], -1)
        if self.check_finite:
            bad = ~np.isfinite(frames).all(-1)
            if bad.any():
                row, t = np.argwhere(bad)[0]
                values = frames[row, t][~np.isfinite(frames[row, t])]
                raise DataError(
                    self.where(batch[row], t),
                    f"{values.size} NaN or infinite value(s) (first "
                    f"{values[0]}); expected finite numbers",
                )
        low, high = frames.min(-1), frames.max(-1)
        if self.check_range:
            bad = (low < 0.0) | (high > 1.0)
            if bad.any():
                row, t = np.argwhere(bad)[0]
                raise DataError(
                    self.where(batch[row], t),
                    f"values from {low[row, t]:g} to {high[row, t]:g} in "
                    f"{self.arrays[0].dtype} data; expected [0, 1], or set "
                    "value_range = [low, high] in [data]",
                )
        if not self.constant_reported:
            constant = low == high
            if constant.any():
                self.constant_reported = True
                row, t = np.argwhere(constant)[0]
                print(
                    f"warning: {self.where(batch[row], t)} is constant "
                    f"(every value {low[row, t]:g}): no motion to learn "
                    "(further constant frames are not reported)",
                    file=sys.stderr,
                    flush=True,
                )

    def _window(self, array, sequence: int, start: int) -> np.ndarray:
        stop = start + self.total_length
        if self.layout == "NTHWC":
            frames = array[sequence, start:stop]
            return frames if frames.ndim == 4 else frames[..., None]
        if self.layout == "TNHW":
            return array[start:stop, sequence][..., None]
        if self.layout == "FCHW":
            return array[start:stop].transpose(0, 2, 3, 1)
        return array[start:stop]

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """Returns windows `indices` as float32 (n, T, H, W, C) in [0, 1]."""
        batch = self.windows[np.asarray(indices, np.int64)]
        out = np.empty(
            (len(batch), self.total_length, *self.frame_shape), np.float32
        )
        for array_id in np.unique(batch[:, 0]):
            rows = np.flatnonzero(batch[:, 0] == array_id)
            with self.arrays[array_id].mapped() as array:
                for row in rows:
                    out[row] = self._window(array, *batch[row, 1:])
        self._check_values(batch, out)
        if self.low != 0.0:
            out -= np.float32(self.low)
        if self.high - self.low != 1.0:
            out /= np.float32(self.high - self.low)
        if self.explicit_range:
            np.clip(out, 0.0, 1.0, out=out)
        return out


def uniform_windows(
    counts: list[int], starts: list[np.ndarray], fractions: tuple[float, float]
) -> np.ndarray:
    """Returns the windows of a split of arrays of equally long sequences.

    The sequences of all arrays, in order, are cut by `fractions`: whole
    sequences go to one split, so splits share no frame.

    Args:
        counts: sequences in each array.
        starts: per array, the window starts within each of its sequences.
        fractions: the (start, stop) fractions of the sequences to take.

    Returns:
        int64 array (num_windows, 3) of (array, sequence, start).
    """
    offsets = np.cumsum([0, *counts])
    chosen = fraction_slice(int(offsets[-1]), fractions)
    pieces = [np.zeros((0, 3), np.int64)]
    for array, (count, array_starts) in enumerate(zip(counts, starts)):
        low = max(chosen.start - offsets[array], 0)
        high = min(chosen.stop - offsets[array], count)
        if high > low:
            sequences = np.repeat(np.arange(low, high), len(array_starts))
            pieces.append(
                np.column_stack(
                    [
                        np.full(len(sequences), array),
                        sequences,
                        np.tile(array_starts, high - low),
                    ]
                )
            )
    return np.concatenate(pieces).astype(np.int64)


def check_split(
    windows: np.ndarray,
    name: str,
    split: str,
    total: int,
    fractions: tuple[float, float],
) -> None:
    """Raises `DataError` when a split holds no window.

    Args:
        windows: the windows of the split.
        name: the source, for the message.
        split: the split.
        total: sequences in the source, all splits together.
        fractions: the share of the sequences the split takes.
    """
    if len(windows) == 0:
        raise DataError(
            name,
            f"the {split} split is empty: it takes the share "
            f"{fractions[0]:g}-{fractions[1]:g} of {total} sequences, "
            "which holds no sequence; change split_fractions or give "
            f"{split}_path",
        )
