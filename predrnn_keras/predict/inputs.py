"""The user's sequences for a forecast: found, read and made into what the
model expects.

A source is a video (.mp4, .avi, .gif, ... any format ffmpeg reads), a
folder of frame images (one sequence, in natural order), an .npy / .npz
array holding one sequence `(T, H, W[, C])` or many `(N, T, H, W[, C])`, or
a folder holding any number of these (videos, arrays, and subfolders of
frames). Nothing here imports Keras.
"""

import zipfile
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.decoding import convert_channels
from predrnn_keras.data.decoding import drop_alpha
from predrnn_keras.data.decoding import is_image
from predrnn_keras.data.decoding import is_video
from predrnn_keras.data.decoding import iter_video
from predrnn_keras.data.decoding import natural_key
from predrnn_keras.data.decoding import read_image
from predrnn_keras.data.window_reader import value_scale

ARRAY_SUFFIXES = (".npy", ".npz")
GIF_SUFFIX = ".gif"
FIT_CHOICES = ("resize", "crop")
# The channel counts a 4-D array's last axis may be: (T, H, W, C).
_CHANNEL_COUNTS = (1, 3, 4)


@dataclass
class Source:
    """One input: a file or frame folder, and how to read it.

    Attributes:
        path: the file or folder.
        format: "video", "gif", "frames" or "array".
        count: the sequences it holds.
    """

    path: Path
    format: str
    count: int = 1


@dataclass
class Sequence:
    """One sequence as read: raw frames and where they came from.

    Attributes:
        name: a name for its outputs, unique within a run.
        source: the file or folder.
        frames: `(T, H, W, C)`, the decoded dtype: the frames kept (see
            `read_sequences`).
        length: the frames the sequence holds.
        notes: what was done to it (conversions, frames used).
        first_frame: the number in the sequence of the first frame kept.
    """

    name: str
    source: Path
    frames: np.ndarray
    length: int = 0
    notes: list = field(default_factory=list)
    first_frame: int = 0

    def __post_init__(self):
        self.length = self.length or len(self.frames)


@dataclass
class Conversion:
    """What `prepare` may do to frames that differ from the model's.

    Attributes:
        fit: None (different sizes are an error), "resize" (bilinear) or
            "crop" (the centre, then resized if still larger).
        channels: convert grey <-> RGB when the counts differ.
        value_range: raw `(low, high)` mapped to 0 and 1; None: from the
            dtype (uint8 0-255, uint16 0-65535, floats as they are).
    """

    fit: "str | None" = None
    channels: bool = False
    value_range: "tuple | None" = None


def _array_shape(path: Path, key: "str | None"):
    """`(array, is_many)` of an .npy / .npz file, memory-mapped where it can
    be."""
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as err:
            raise DataError(path, f"not an .npy array ({err})") from err
    else:
        try:
            archive = np.load(path, allow_pickle=False)
        except (ValueError, OSError, zipfile.BadZipFile) as err:
            raise DataError(path, f"not an .npz file ({err})") from err
        names = list(archive.files)
        if key is None:
            if len(names) != 1:
                raise DataError(
                    path,
                    f"holds {len(names)} arrays ({', '.join(names)}); choose "
                    "one with --key",
                )
            key = names[0]
        if key not in names:
            raise DataError(
                path, f"no array {key!r} (arrays: {', '.join(names)})"
            )
        array = archive[key]
    return array, _is_many(path, array.shape)


def _is_many(path: Path, shape: tuple) -> bool:
    """Whether an array's shape is many sequences (N, T, H, W[, C]) rather
    than one (T, H, W[, C])."""
    if len(shape) == 3:
        return False
    if len(shape) == 4:
        return shape[-1] not in _CHANNEL_COUNTS
    if len(shape) == 5:
        return True
    raise DataError(
        path,
        f"array of shape {shape}; expected one sequence (T, H, W[, C]) or "
        "many (N, T, H, W[, C])",
    )


def find_sources(path, key: "str | None" = None) -> list:
    """The sources a path names: itself, or the sources of a folder.

    Args:
        path: a video, GIF, .npy / .npz file, a folder of frame images, or a
            folder of any of these.
        key: the array of .npz files with several.

    Returns:
        A list of `Source`, in natural order of their names.

    Raises:
        DataError: a path that does not exist, a file of an unknown kind, or
            a folder with nothing to read.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, "no such file or folder")
    if path.is_file():
        return [_file_source(path, key)]
    entries = sorted(path.iterdir(), key=lambda p: natural_key(p.name))
    images = [p for p in entries if p.is_file() and is_image(p)]
    if images:
        return [Source(path, "frames")]
    sources = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            if any(is_image(p) for p in entry.iterdir() if p.is_file()):
                sources.append(Source(entry, "frames"))
        elif _known_file(entry):
            sources.append(_file_source(entry, key))
    if not sources:
        raise DataError(
            path,
            "holds no video, GIF, .npy / .npz array or frame images; "
            "expected a folder of frames or of sequence files",
        )
    return sources


def _known_file(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix in ARRAY_SUFFIXES or suffix == GIF_SUFFIX or is_video(path)


def _file_source(path: Path, key) -> Source:
    suffix = path.suffix.lower()
    if suffix in ARRAY_SUFFIXES:
        array, many = _array_shape(path, key)
        return Source(path, "array", array.shape[0] if many else 1)
    if suffix == GIF_SUFFIX:
        return Source(path, "gif")
    if is_video(path):
        return Source(path, "video")
    if is_image(path):
        raise DataError(
            path,
            "a single image; expected a folder of frame images, a video or "
            "an array",
        )
    raise DataError(
        path,
        f"unknown kind of file {suffix!r}; expected a video (.mp4, .avi, "
        ".gif, ...), an .npy / .npz array or a folder of frame images",
    )


def _read_gif(path: Path) -> np.ndarray:
    try:
        frames = iio.imread(path, index=None, extension=GIF_SUFFIX)
    except Exception as err:  # Decoders raise many types; all mean the same.
        raise DataError(path, f"unreadable GIF ({err})") from err
    frames = np.asarray(frames)
    if frames.ndim == 3:  # one frame, or grey frames (T, H, W)
        frames = frames[..., None] if frames.shape[-1] > 4 else frames[None]
    return drop_alpha(frames)


def _read_frames_folder(path: Path, keep) -> tuple:
    images = sorted(
        (p for p in path.iterdir() if p.is_file() and is_image(p)),
        key=lambda p: natural_key(p.name),
    )
    frames = [read_image(p) for p in _kept(images, keep)]
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise DataError(
            path,
            f"frames of different shapes {sorted(shapes)}; expected frames "
            "of one size",
        )
    return np.concatenate(frames), len(images)


def _kept(items, keep):
    """The items `keep` asks for: ("first", n), ("last", n) or None (all)."""
    if keep is None:
        return items
    end, count = keep
    return items[:count] if end == "first" else items[-count:]


def _read_video(path: Path, keep) -> tuple:
    """Decodes a video, holding only the frames `keep` asks for."""
    chunks, held, length = [], 0, 0
    for chunk in iter_video(path):
        length += len(chunk)
        if keep is not None and keep[0] == "first" and held >= keep[1]:
            continue  # counted, not held
        chunks.append(chunk)
        held += len(chunk)
        while keep is not None and keep[0] == "last" and (
            held - len(chunks[0]) >= keep[1]
        ):
            held -= len(chunks.pop(0))
    return _kept(np.concatenate(chunks), keep), length


def _with_channels(frames: np.ndarray) -> np.ndarray:
    return frames[..., None] if frames.ndim == 3 else frames


def read_sequences(source: Source, key: "str | None" = None, keep=None):
    """Reads the sequences of a source, one at a time.

    Args:
        source: a `Source` of `find_sources`.
        key: the array of .npz files with several.
        keep: ("first", n) or ("last", n) to keep only those frames of each
            sequence (a long video is never held whole), or None for all.

    Yields:
        `Sequence`s with frames `(T, H, W, C)` as stored.

    Raises:
        DataError: a file that cannot be decoded.
    """
    path = source.path
    if source.format == "array":
        array, many = _array_shape(path, key)
        if not many:
            frames = _with_channels(np.asarray(_kept(array, keep)))
            sequence = Sequence(path.stem, path, frames, len(array))
            yield _numbered(keep, sequence)
            return
        width = max(4, len(str(source.count)))
        for i in range(source.count):
            frames = _with_channels(np.asarray(_kept(array[i], keep)))
            sequence = Sequence(
                f"{path.stem}_{i + 1:0{width}d}", path, frames, array.shape[1]
            )
            yield _numbered(keep, sequence)
        return
    if source.format == "gif":
        frames = _read_gif(path)
        frames, length = _kept(frames, keep), len(frames)
    elif source.format == "video":
        frames, length = _read_video(path, keep)
    else:
        frames, length = _read_frames_folder(path, keep)
    name = path.stem if path.is_file() else path.name
    yield _numbered(keep, Sequence(name, path, frames, length))


def _numbered(keep, sequence: Sequence) -> Sequence:
    """`sequence` with `first_frame` set from `keep` (see `_kept`)."""
    if keep is not None and keep[0] == "last":
        sequence.first_frame = sequence.length - len(sequence.frames)
    return sequence


def check_finite(frames: np.ndarray, name, first_frame: int = 0) -> None:
    """Raises `DataError` naming the first frame (numbered in its file from
    `first_frame`) that holds NaN or infinite values."""
    if not np.issubdtype(frames.dtype, np.floating):
        return
    finite = np.isfinite(frames.reshape(len(frames), -1)).all(-1)
    if not finite.all():
        frame = first_frame + int(np.flatnonzero(~finite)[0])
        raise DataError(
            name,
            f"frame {frame} holds NaN or infinite values; expected finite "
            "numbers",
        )


def to_unit_range(
    frames: np.ndarray, value_range, name
) -> tuple:
    """Frames as float32 in [0, 1], and the raw `(low, high)` used.

    Raises:
        DataError: NaN or infinite values (naming the first such frame),
            float values outside [0, 1] without a value range, or a signed
            integer dtype without one.
    """
    check_finite(frames, name)
    low, high = value_scale(frames.dtype, value_range, str(name))
    out = (frames.astype(np.float32) - low) / (high - low)
    if value_range is None and np.issubdtype(frames.dtype, np.floating):
        smallest, largest = float(out.min()), float(out.max())
        if smallest < 0.0 or largest > 1.0:
            raise DataError(
                name,
                f"float values from {smallest:g} to {largest:g}; expected "
                "[0, 1], or give their range with --value-range LOW HIGH",
            )
    return np.clip(out, 0.0, 1.0), (low, high)


def _is_grey(frames: np.ndarray) -> bool:
    return frames.shape[-1] == 3 and bool(
        np.array_equal(frames[..., 0], frames[..., 1])
        and np.array_equal(frames[..., 1], frames[..., 2])
    )


def _centre_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """The centre `height x width` (or as much as fits, keeping the aspect
    ratio of the target, when the frames are smaller)."""
    h, w = frames.shape[1:3]
    scale = min(h / height, w / width)
    crop_h, crop_w = round(height * scale), round(width * scale)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return frames[:, top : top + crop_h, left : left + crop_w]


def fit_frames(
    sequence: Sequence, frame_shape: tuple, conversion: Conversion
) -> np.ndarray:
    """Makes a sequence's frames what the model expects: size, channels and
    values in [0, 1]. Records what it did in `sequence.notes`.

    Args:
        sequence: the sequence as read.
        frame_shape: the model's `(height, width, channels)`.
        conversion: what may be done.

    Returns:
        `(frames, (low, high))`: float32 frames `(T, height, width,
        channels)` in [0, 1], and the raw values that map to 0 and 1.

    Raises:
        DataError: channels or size that differ from the model's without
            the conversion that would make them match.
    """
    from predrnn_keras.data.decoding import resize_frames

    frames, name = sequence.frames, sequence.source
    check_finite(frames, name, sequence.first_frame)
    height, width, channels = frame_shape
    have = frames.shape[-1]
    if have != channels:
        if channels == 1 and _is_grey(frames):
            frames = frames[..., :1]  # grey stored as RGB: nothing is lost
        elif conversion.channels and have in (1, 3) and channels in (1, 3):
            frames = convert_channels(frames, channels)
            sequence.notes.append(
                f"converted {'RGB to grey' if channels == 1 else 'grey to RGB'}"
            )
        else:
            raise DataError(
                name,
                f"frames of {have} channel(s), shape {frames.shape[1:]}; the "
                f"model expects {channels}, shape {tuple(frame_shape)} "
                "(pass --convert-channels to convert grey <-> RGB)",
            )
    if frames.shape[1:3] != (height, width):
        before = frames.shape[1:3]
        if conversion.fit is None:
            raise DataError(
                name,
                f"frames of {before[0]}x{before[1]}, shape "
                f"{frames.shape[1:]}; the model expects {height}x{width}, "
                f"shape {tuple(frame_shape)} (pass --fit resize or --fit "
                "crop)",
            )
        if conversion.fit == "crop":
            frames = _centre_crop(frames, height, width)
        frames = resize_frames(np.ascontiguousarray(frames), (height, width))
        sequence.notes.append(
            f"{'cropped and resized' if conversion.fit == 'crop' else 'resized'}"
            f" {before[0]}x{before[1]} to {height}x{width}"
        )
    unit, (low, high) = to_unit_range(frames, conversion.value_range, name)
    return unit, (low, high)
