"""The user's own sequences stored as frame images or videos in folders."""

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data import decoding
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.frame_cache import Clip
from predrnn_keras.data.frame_cache import cache_frames
from predrnn_keras.data.window_reader import WindowReader
from predrnn_keras.data.window_reader import check_split

KEYS = {
    **config_checks.SPLIT_KEYS,
    "image_size": config_checks.DataKey(
        "an integer or [height, width]",
        None,
        "resize every frame to this size; default: keep the frames' size, "
        "which must then be the same in all files",
    ),
    "channels": config_checks.DataKey(
        "1 or 3", None, "convert the frames to grey or RGB; default: keep"
    ),
    "stride": config_checks.STRIDE,
    "value_range": config_checks.VALUE_RANGE,
    "cache_dir": config_checks.CACHE_DIR,
}


def _images(folder: Path) -> list[Path]:
    files = [
        p for p in folder.iterdir() if p.is_file() and decoding.is_image(p)
    ]
    return sorted(files, key=lambda p: decoding.natural_key(p.name))


def find_clips(path: Path) -> list[Clip]:
    """Finds the sequences under `path`.

    `path` is a video file (one sequence), a folder of frame images (one
    sequence), or a folder whose sub-folders of frame images and video files
    are one sequence each. Frames and sequences are taken in natural order of
    their names ("frame_2" before "frame_10").

    Args:
        path: the file or folder.

    Returns:
        The sequences, in order.

    Raises:
        DataError: `path` is missing, mixes frames with sequences, or holds
            no sequence.
    """
    if path.is_file():
        if not decoding.is_video(path):
            raise DataError(
                path, "expected a folder of sequences or a video file"
            )
        return [Clip(path.name, (path,))]
    if not path.is_dir():
        raise DataError(path, "not found")
    entries = sorted(path.iterdir(), key=lambda p: decoding.natural_key(p.name))
    clips = []
    for entry in entries:
        if entry.is_dir() and (frames := _images(entry)):
            clips.append(Clip(entry.name, tuple(frames)))
        elif entry.is_file() and decoding.is_video(entry):
            clips.append(Clip(entry.name, (entry,)))
    images = _images(path)
    if images and clips:
        raise DataError(
            path,
            f"holds both frame images ({images[0].name}) and sequences "
            f"({clips[0].name}); expected one sequence per sub-folder or "
            "video, or one folder of frames",
        )
    if images:
        return [Clip(path.name, tuple(images))]
    if not clips:
        raise DataError(
            path,
            "no sequence found; expected sub-folders of PNG/JPEG frames, "
            f"video files ({', '.join(decoding.VIDEO_SUFFIXES)}) or PNG/JPEG "
            "frames",
        )
    return clips


def frames_reader(
    config: Mapping, split: str, total_length: int
) -> WindowReader:
    """Builds the reader of sequences stored as images or videos.

    Frames of any size and channel count are decoded once into a frame cache
    (see `cache_frames`) and read from it by memory mapping. Each sequence
    gives the windows of `total_length` consecutive frames that start every
    `stride` frames; sequences shorter than `total_length` are skipped, with
    a note. Config keys: `KEYS` (docs/recipes.md); `path` is read by
    `find_clips`.

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".
        total_length: frames per sequence.

    Returns:
        The reader.

    Raises:
        DataError: missing or unreadable files, frames of mixed sizes, no
            sequence of `total_length` frames, or an empty split.
    """
    config_checks.check_keys(config, "frames", KEYS)
    paths, fractions = config_checks.split_sources(config, split)
    image_size = config_checks.get_image_size(config)
    channels = config_checks.get_choice(config, "channels", (1, 3, None), None)
    stride = config_checks.get_int(config, "stride", total_length)
    value_range = config_checks.get_value_range(config)
    cache_dir = (
        config_checks.get_path(config, "cache_dir")
        if config.get("cache_dir") is not None
        else None
    )
    clips = [clip for path in paths for clip in find_clips(path)]
    label = "frames-" + re.sub(r"[^\w.-]", "_", paths[0].name)[:40]
    cached = cache_frames(clips, cache_dir, label, image_size, channels)
    chosen = cached[config_checks.fraction_slice(len(cached), fractions)]
    arrays, windows, short = [], [], []
    for clip in chosen:
        count = clip.frames.shape[0]
        if count < total_length:
            short.append(clip)
            continue
        starts = range(0, count - total_length + 1, stride)
        windows.extend((len(arrays), 0, start) for start in starts)
        arrays.append(clip.frames)
    name = ", ".join(map(str, paths))
    if short and not windows:
        longest = max(short, key=lambda c: c.frames.shape[0])
        raise DataError(
            longest.clip.source,
            f"{longest.frames.shape[0]} frames, fewer than total_length="
            f"{total_length}, and no {split} sequence is longer",
        )
    if short:
        print(
            f"Note: skipped {len(short)} of {len(chosen)} {split} sequences "
            f"with fewer than total_length={total_length} frames, e.g. "
            f"{short[0].clip.source} ({short[0].frames.shape[0]} frames)."
        )
    windows = np.array(windows, np.int64).reshape(-1, 3)
    check_split(windows, name, split, len(cached), fractions)
    return WindowReader(
        name,
        arrays,
        "FHWC",
        windows,
        total_length,
        value_range,
        details=(
            f"cut every {stride} frames from {len(arrays)} "
            f"clip{'s' if len(arrays) != 1 else ''}"
        ),
    )
