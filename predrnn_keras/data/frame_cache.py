"""A cache of decoded frames: image folders and videos decoded once.

Each clip (a folder of frame images, or a video) is decoded, converted to the
wanted channels and size, and written as one .npy file of integer frames
(frames, height, width, channels) in a cache folder of its own. Later runs
read those files by memory mapping and never decode again. The folder's name
carries a hash of the source files (paths, sizes, modification times) and of
the conversion, so changed data or settings get a new cache and the user's
files are never written to.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from predrnn_keras.data import decoding
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.mapped_array import MappedArray

_CACHE_VERSION = 1
_PROGRESS_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class Clip:
    """One sequence of frames in the source data.

    Attributes:
        name: a name unique among the clips, for messages.
        files: the image files in frame order, or one video file.
        frame_numbers: the number of each image file's frame (gaps allowed);
            None for a video, whose frames are numbered 1, 2, ...
    """

    name: str
    files: tuple[Path, ...]
    frame_numbers: "tuple[int, ...] | None" = None

    @property
    def is_video(self) -> bool:
        """Whether the clip is one video file."""
        return len(self.files) == 1 and decoding.is_video(self.files[0])

    @property
    def source(self) -> Path:
        """The video file, or the folder of the frame images."""
        return self.files[0] if self.is_video else self.files[0].parent


@dataclasses.dataclass(frozen=True)
class CachedClip:
    """A decoded clip: its frames in the cache and their frame numbers."""

    clip: Clip
    frames: MappedArray
    frame_numbers: np.ndarray


def default_cache_dir() -> Path:
    """Returns `$XDG_CACHE_HOME/predrnn_keras` (`~/.cache/predrnn_keras`)."""
    root = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(root).expanduser() / "predrnn_keras"


def fingerprint(settings, files) -> str:
    """16 hex digits that change with `settings` (anything JSON can write)
    and with the name, path, size and modification time of each file.

    Args:
        settings: the values that change what is decoded from the files.
        files: `(name, path)` pairs: the files and what they are part of.

    Raises:
        DataError: a file cannot be read.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, file in files:
        try:
            stat = Path(file).stat()
        except OSError as err:
            raise DataError(
                file, f"cannot be read ({err.strerror})"
            ) from None
        digest.update(
            f"{name}\0{file}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
        )
    return digest.hexdigest()[:16]


class _ClipWriter:
    """Converts decoded frames and checks they all share shape and dtype."""

    def __init__(self, image_size, channels):
        self.image_size = image_size
        self.channels = channels
        self.frame_shape = None
        self.dtype = None

    def convert(self, frames: np.ndarray, file: Path) -> np.ndarray:
        """Converts frames decoded from `file` and checks their shape."""
        if self.channels is not None:
            frames = decoding.convert_channels(frames, self.channels)
        if self.image_size is not None:
            frames = decoding.resize_frames(frames, self.image_size)
        self.check(frames.shape[1:], frames.dtype, file)
        return frames

    def check(self, frame_shape: tuple, dtype: np.dtype, file: Path) -> None:
        """Takes the first frame's shape and dtype; checks the others'."""
        if self.frame_shape is None:
            self.frame_shape, self.dtype = frame_shape, dtype
        elif frame_shape != self.frame_shape or dtype != self.dtype:
            found = "x".join(map(str, frame_shape))
            expected = "x".join(map(str, self.frame_shape))
            raise DataError(
                file,
                f"frame of {found} {dtype} (height x width x channels), but "
                f"earlier frames are {expected} {self.dtype}; set image_size "
                "and channels in [data] to convert all frames",
            )

    def write(self, clip: Clip, path: Path) -> None:
        """Decodes `clip` into the .npy file `path`, streaming to disk."""
        raw = path.with_name(f"{path.name}.{os.getpid()}.raw")
        count = 0
        with open(raw, "wb") as out:
            if clip.is_video:
                chunks = (
                    (frames, clip.files[0])
                    for frames in decoding.iter_video(clip.files[0])
                )
            else:
                chunks = ((decoding.read_image(f), f) for f in clip.files)
            for frames, file in chunks:
                frames = self.convert(frames, file)
                out.write(np.ascontiguousarray(frames).tobytes())
                count += len(frames)
        staged = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        with open(staged, "wb") as out, open(raw, "rb") as data:
            np.lib.format.write_array_header_1_0(
                out,
                {
                    "descr": np.lib.format.dtype_to_descr(self.dtype),
                    "fortran_order": False,
                    "shape": (count, *self.frame_shape),
                },
            )
            shutil.copyfileobj(data, out, 1 << 24)
        raw.unlink()
        os.replace(staged, path)


def cache_frames(
    clips: Sequence[Clip],
    cache_dir: "str | os.PathLike[str] | None",
    label: str,
    image_size: "tuple[int, int] | None",
    channels: "int | None",
) -> list[CachedClip]:
    """Decodes the clips once into a cache and returns them memory-mapped.

    A cache that a previous run completed is opened without decoding; one
    that a killed run left half-written is completed (clips already written
    are kept).

    Args:
        clips: the clips, in order.
        cache_dir: the folder that holds caches (None: `default_cache_dir()`).
        label: the start of this cache's folder name, e.g. "kth".
        image_size: (height, width) to resize frames to; None keeps them.
        channels: 1 or 3 to convert frames to; None keeps them.

    Returns:
        The cached clips, in the order of `clips`.

    Raises:
        DataError: a source file cannot be decoded, or frames differ in
            size, channels or dtype where no conversion was asked for.
    """
    settings = {"image_size": image_size, "channels": channels}
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    files = [(clip.name, file) for clip in clips for file in clip.files]
    digest = fingerprint([_CACHE_VERSION, settings], files)
    folder = root / f"{label}-{digest}"
    index_path = folder / "index.json"
    if not index_path.is_file():
        _build(clips, folder, image_size, channels)
    index = json.loads(index_path.read_text())
    cached = []
    for clip, entry in zip(clips, index["clips"]):
        frames = MappedArray(folder / entry["file"])
        numbers = entry["frame_numbers"] or range(1, frames.shape[0] + 1)
        cached.append(CachedClip(clip, frames, np.asarray(numbers, np.int64)))
    return cached


def _build(clips, folder, image_size, channels) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    writer = _ClipWriter(image_size, channels)
    clips_text = f"{len(clips)} clip{'s' if len(clips) != 1 else ''}"
    print(f"Decoding {clips_text} once into the cache {folder}")
    start = last_report = time.monotonic()
    entries = []
    for number, clip in enumerate(clips):
        path = folder / f"{number:05d}.npy"
        if path.is_file():
            done = MappedArray(path)
            writer.check(done.shape[1:], done.dtype, clip.source)
        else:
            writer.write(clip, path)
        entries.append(
            {
                "name": clip.name,
                "file": path.name,
                "frame_numbers": clip.frame_numbers,
            }
        )
        if time.monotonic() - last_report > _PROGRESS_SECONDS:
            last_report = time.monotonic()
            print(f"  {number + 1}/{len(clips)} clips decoded")
    staged = folder / f"index.json.{os.getpid()}.tmp"
    staged.write_text(json.dumps({"version": _CACHE_VERSION, "clips": entries}))
    os.replace(staged, folder / "index.json")
    print(f"  {clips_text} decoded in {time.monotonic() - start:.0f} s")
