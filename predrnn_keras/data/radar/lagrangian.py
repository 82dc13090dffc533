"""Radar windows in the Lagrangian frame, computed once and cached.

With `frame = "lagrangian"`, the training and validation splits hold each
window moved into the frame of its last context field
(`predrnn_keras.nowcasting.lagrangian`): the motion field is estimated
from the window's first `context_length` fields, as a forecast estimates
it, and every field of the window is advected along it. The windows of a
time range and their motion fields are computed once into two `.npy` files
beside the range's decoded frames (`cache`), named by a fingerprint of
those frames and of the settings that shape the windows.
"""

import os
import time
from pathlib import Path

import numpy as np

from predrnn_keras.data.frame_cache import fingerprint
from predrnn_keras.data.mapped_array import MappedArray
from predrnn_keras.data.radar.settings import RadarSettings
from predrnn_keras.nowcasting.lagrangian import LagrangianFrame

_CACHE_VERSION = 1


def lagrangian_frame(settings: RadarSettings) -> LagrangianFrame:
    """The `LagrangianFrame` of a radar `[data]` table."""
    return LagrangianFrame(settings.transform, settings.motion)


def cache_lagrangian(
    array: MappedArray,
    starts,
    total_length: int,
    settings: RadarSettings,
) -> tuple[MappedArray, MappedArray]:
    """The windows of a range in the Lagrangian frame, and their motion.

    Args:
        array: the range's decoded frames, float32 (T, H, W).
        starts: the first frame of each window.
        total_length: frames per window.
        settings: the `[data]` settings (`motion`, `context_length`, the
            transform).

    Returns:
        `(windows, motion)`: float32 (N, total_length, H, W) in the data's
        unit, and float32 (N, 2, H, W) in pixels per time step.
    """
    starts = [int(s) for s in starts]
    key = {
        "version": _CACHE_VERSION,
        "motion": settings.motion,
        "context_length": settings.context_length,
        "total_length": total_length,
        "unit": settings.unit,
        "threshold": settings.transform.threshold,
        "starts": starts,
    }
    source = Path(array.path)
    folder = source.parent
    name = f"lagrangian-{fingerprint(key, [('frames', source)])}"
    frames_path = folder / f"{name}.npy"
    motion_path = folder / f"{name}-motion.npy"
    if not (frames_path.is_file() and motion_path.is_file()):
        label = f"{len(starts)} windows"
        print(f"Moving {label} into the Lagrangian frame ({settings.motion})")
        started = time.monotonic()
        windows, motion = _compute(array, starts, total_length, settings)
        for path, values in ((motion_path, motion), (frames_path, windows)):
            staged = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
            np.save(staged, values)
            os.replace(staged, path)
        print(f"  {label} done in {time.monotonic() - started:.0f} s")
    return MappedArray(frames_path), MappedArray(motion_path)


def _compute(array, starts, total_length, settings):
    frame = lagrangian_frame(settings)
    context = settings.context_length
    with array.mapped() as frames:
        shape = frames.shape[1:]
        windows = np.empty((len(starts), total_length, *shape), np.float32)
        motion = np.empty((len(starts), 2, *shape), np.float32)
        for row, start in enumerate(starts):
            window = np.asarray(frames[start : start + total_length])
            velocity = frame.motion(window[:context])
            motion[row] = velocity
            windows[row] = frame.to_lagrangian(window, velocity, context - 1)
    return windows, motion


def motion_variant(motion: np.ndarray, variant: int, variants: int):
    """The motion field `(2, H, W)` (x, y) of a window's variant: mirrored
    left to right when `variant` is odd, then rotated by `variant // 2`
    quarter turns as `np.rot90` rotates the fields; the vectors turn with
    the grid."""
    vx, vy = motion[0], motion[1]
    if variant % 2:
        vx, vy = -vx[:, ::-1], vy[:, ::-1]
    if variants == 8:
        for _ in range(variant // 2):
            # np.rot90 moves the pixel at (row r, column c) to
            # (W - 1 - c, r): x becomes -y's direction, y becomes x's.
            vx, vy = np.rot90(vy), -np.rot90(vx)
    return np.stack([vx, vy])
