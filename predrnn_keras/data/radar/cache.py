"""The radar files of a time range, decoded once into a memory-mapped cache.

Decoding a radar file takes far longer than reading its frame back, so the
files of each time range are decoded once into a float32 (T, H, W) `.npy`
file under `cache_dir` (default: the user's cache folder), named by a
fingerprint of the files and of the settings that shape the frames.
"""

import datetime
import json
import os
import time
from pathlib import Path

import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.frame_cache import default_cache_dir
from predrnn_keras.data.frame_cache import fingerprint
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.radar.reading import get_importer
from predrnn_keras.data.radar.reading import read_radar_file
from predrnn_keras.data.radar.settings import RadarSettings

_CACHE_VERSION = 2
_PROGRESS_SECONDS = 30.0


def _cache_folder(settings: RadarSettings, files) -> Path:
    key = {
        "version": _CACHE_VERSION,
        "importer": settings.importer,
        "options": settings.importer_options,
        "unit": settings.unit,
        "crop": settings.crop,
        "image_size": settings.image_size,
    }
    digest = fingerprint(key, [(str(time), file) for time, file in files])
    root = settings.cache_dir
    if root is None:
        root = default_cache_dir()
    return Path(root) / f"radar-{digest}"


def cache_series(
    files: list[tuple[datetime.datetime, Path]], settings: RadarSettings
) -> MappedArray:
    """Decodes a range's files once into a float32 (T, H, W) .npy file.

    A cache written before is opened without decoding; the file appears
    only once complete, so a killed run leaves nothing half-written.
    """
    folder = _cache_folder(settings, files)
    path = folder / "frames.npy"
    if not path.is_file():
        importer = get_importer(settings.importer)
        folder.mkdir(parents=True, exist_ok=True)
        label = f"{len(files)} radar files"
        print(f"Decoding {label} once into the cache {folder}")
        start = time.monotonic()
        grid = {}
        frames = _decode(files, settings, importer, grid)
        staged = folder / f"frames.{os.getpid()}.tmp.npy"
        np.save(staged, frames)
        (folder / "times.json").write_text(
            json.dumps([f"{t:%Y-%m-%d %H:%M:%S}" for t, _ in files])
        )
        (folder / "grid.json").write_text(
            json.dumps(grid)
        )
        os.replace(staged, path)
        print(f"  {label} decoded in {time.monotonic() - start:.0f} s")
    return MappedArray(path)


def pixel_size(array: MappedArray, settings: RadarSettings):
    """The size in km of the cached frames' pixels: the importer's, scaled
    by the crop's height over the frames' (None where unknown)."""
    try:
        grid = json.loads((Path(array.path).parent / "grid.json").read_text())
        km, rows = grid["pixel_km"], grid["rows"]
    except (OSError, ValueError, KeyError):
        return None
    if km is None:
        return None
    rows = settings.crop[2] if settings.crop is not None else rows
    return km * rows / array.shape[-2]


def _decode(
    files: list[tuple[datetime.datetime, Path]],
    settings: RadarSettings,
    importer,
    grid: dict,
) -> np.ndarray:
    """Every file's field, stacked into float32 (T, H, W), with a line of
    progress every `_PROGRESS_SECONDS`; `grid` receives the first file's
    grid (`read_radar_file`).

    Raises:
        DataError: an unreadable file, or fields of different sizes.
    """
    last_report = time.monotonic()
    frames = []
    for number, (_, file) in enumerate(files):
        field = read_radar_file(
            file, settings, importer, grid if number == 0 else None
        )
        if frames and field.shape != frames[0].shape:
            raise DataError(
                file,
                f"field of {field.shape[0]}x{field.shape[1]} pixels, but "
                f"earlier files have {frames[0].shape[0]}x"
                f"{frames[0].shape[1]}; set crop or image_size in [data]",
            )
        frames.append(field)
        if time.monotonic() - last_report > _PROGRESS_SECONDS:
            last_report = time.monotonic()
            print(f"  {number + 1}/{len(files)} files decoded")
    return np.stack(frames)
