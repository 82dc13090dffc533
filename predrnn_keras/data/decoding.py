"""Decoding of image and video files into frames, channel conversion, resizing.

Frames are numpy arrays (frames, height, width, channels) of the decoded
integer dtype (uint8, or uint16 for 16-bit PNGs), with 1 or 3 channels: an
alpha channel is dropped on decoding.
"""

import os
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from predrnn_keras.data.data_error import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg")
# ITU-R BT.601 luma weights: grey = 0.299 R + 0.587 G + 0.114 B.
_LUMA = np.array([0.299, 0.587, 0.114])


def natural_key(name: str) -> list:
    """Sort key that orders "frame_2" before "frame_10"."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def drop_alpha(frames: np.ndarray) -> np.ndarray:
    """Frames without their alpha channel (grey + alpha, RGBA)."""
    # (H, W) grey, (H, W, 2) grey + alpha, (H, W, 3) RGB, (H, W, 4) RGBA.
    if frames.shape[-1] in (2, 4):
        return frames[..., : frames.shape[-1] - 1]
    return frames


def read_image(path: "str | os.PathLike[str]") -> np.ndarray:
    """Reads one PNG or JPEG frame.

    Args:
        path: the image file.

    Returns:
        An array (1, height, width, channels), channels 1 or 3.

    Raises:
        DataError: the file cannot be decoded as an image.
    """
    _check_not_empty(path, "an image")
    try:
        image = iio.imread(path)
    except Exception as err:  # Decoders raise many types; all mean the same.
        raise DataError(path, f"unreadable image ({_first_line(err)})") from err
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] > 4:
        raise DataError(
            path, f"image of shape {image.shape}; expected one frame"
        )
    return drop_alpha(image)[None]


def iter_video(path: "str | os.PathLike[str]", chunk: int = 64):
    """Decodes a video with imageio's ffmpeg plugin, a chunk at a time.

    Args:
        path: the video file (any format ffmpeg reads: .avi, .mp4, ...).
        chunk: frames per yielded array.

    Yields:
        uint8 arrays (frames, height, width, 3), in order.

    Raises:
        DataError: the file cannot be decoded or holds no frame.
    """
    _check_not_empty(path, "a video")
    frames, count = [], 0
    try:
        for frame in iio.imiter(path, plugin="FFMPEG"):
            frames.append(frame)
            if len(frames) == chunk:
                count += len(frames)
                yield np.stack(frames)
                frames = []
    except Exception as err:  # ffmpeg failures arrive as several types.
        raise DataError(
            path, f"unreadable video or no frames ({_first_line(err)})"
        ) from err
    count += len(frames)
    if count == 0:
        raise DataError(path, "video has no frames")
    if frames:
        yield np.stack(frames)


def _check_not_empty(path, expected: str) -> None:
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror})") from err
    if size == 0:
        raise DataError(path, f"empty file (0 bytes); expected {expected}")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def convert_channels(frames: np.ndarray, channels: int) -> np.ndarray:
    """Converts frames (..., 1 or 3) to `channels` (1: BT.601 luma; 3: repeat)."""
    if frames.shape[-1] == channels:
        return frames
    if channels == 3:
        return np.repeat(frames, 3, axis=-1)
    grey = np.rint(frames @ _LUMA)
    return grey.astype(frames.dtype)[..., None]


def _axis_weights(size_in: int, size_out: int):
    # Half-pixel centres, clamped at the borders: the sampling of
    # OpenCV's INTER_LINEAR, which the reference resizes KTH frames with.
    source = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    source = np.clip(source, 0, size_in - 1)
    low = np.floor(source).astype(np.int64)
    high = np.minimum(low + 1, size_in - 1)
    return low, high, (source - low).astype(np.float32)


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resizes frames (n, height, width, channels) bilinearly to `size`.

    Integer frames are rounded back to their dtype. Frames already of `size`
    are returned unchanged.

    Args:
        frames: the frames.
        size: (height, width) wanted.

    Returns:
        The resized frames, of the dtype of `frames`.
    """
    if frames.shape[1:3] == tuple(size):
        return frames
    out = frames.astype(np.float32)
    low, high, weight = _axis_weights(frames.shape[1], size[0])
    weight = weight[None, :, None, None]
    out = out[:, low] * (1 - weight) + out[:, high] * weight
    low, high, weight = _axis_weights(frames.shape[2], size[1])
    weight = weight[None, None, :, None]
    out = out[:, :, low] * (1 - weight) + out[:, :, high] * weight
    if np.issubdtype(frames.dtype, np.integer):
        info = np.iinfo(frames.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(frames.dtype)


def is_image(path: Path) -> bool:
    """Whether `path` names a PNG or JPEG file."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    """Whether `path` names a video file that ffmpeg decodes."""
    return path.suffix.lower() in VIDEO_SUFFIXES
