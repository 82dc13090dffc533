"""Per-frame scores of predicted video frames, in NumPy (docs/evaluation.md,
"Metrics").

All functions take frames `(..., height, width, channels)` and return one
score per frame (the leading axes). Float frames are in [0, 1]; predictions
are clipped to [0, 1] first, as the papers do. The 8-bit scores (PSNR, SSIM)
use `to_uint8`, which truncates `255 * x` as the reference implementation
does (`np.uint8(x * 255)`).
"""

import numpy as np

# Names of the scores, as written to JSON, CSV and TensorBoard, and what they
# mean. "frame_sum" sums over the pixels of one frame (the papers' "MSE per
# frame"); "pixel_mean" averages over them.
METRIC_DEFINITIONS = {
    "mse_frame_sum": (
        "squared error summed over the pixels and channels of a frame, "
        "frames in [0, 1] (the papers' 'MSE per frame')"
    ),
    "mse_pixel_mean": "squared error averaged over pixels, frames in [0, 1]",
    "mae_frame_sum": (
        "absolute error summed over the pixels and channels of a frame, "
        "frames in [0, 1]"
    ),
    "mae_pixel_mean": "absolute error averaged over pixels, frames in [0, 1]",
    "psnr_8bit": "PSNR in dB of the 8-bit frames (peak 255)",
    "ssim_8bit": (
        "SSIM of the 8-bit frames: 7x7 uniform window, data range 255, "
        "K1=0.01, K2=0.03, sample covariance (scikit-image's defaults), "
        "mean over channels"
    ),
}
SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (clipped) -> uint8 by truncating `255 * x`."""
    frames = np.clip(np.asarray(frames, dtype=np.float32), 0.0, 1.0)
    return (frames * np.float32(255.0)).astype(np.uint8)


def _errors(truth, pred):
    truth = np.asarray(truth, dtype=np.float64)
    pred = np.clip(np.asarray(pred, dtype=np.float64), 0.0, 1.0)
    if truth.shape != pred.shape or truth.ndim < 3:
        raise ValueError(
            "Expected truth and prediction of the same shape (..., height, "
            f"width, channels). Received: {truth.shape} and {pred.shape}"
        )
    return pred - truth


def mse_frame_sum(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared error summed over each frame's pixels and channels."""
    return np.square(_errors(truth, pred)).sum(axis=(-3, -2, -1))


def mse_pixel_mean(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Squared error averaged over each frame's pixels and channels."""
    return np.square(_errors(truth, pred)).mean(axis=(-3, -2, -1))


def mae_frame_sum(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Absolute error summed over each frame's pixels and channels."""
    return np.abs(_errors(truth, pred)).sum(axis=(-3, -2, -1))


def mae_pixel_mean(truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Absolute error averaged over each frame's pixels and channels."""
    return np.abs(_errors(truth, pred)).mean(axis=(-3, -2, -1))


def psnr_8bit(truth_u8: np.ndarray, pred_u8: np.ndarray) -> np.ndarray:
    """PSNR (dB) of each 8-bit frame; identical frames give `inf`."""
    diff = np.asarray(pred_u8, np.float64) - np.asarray(truth_u8, np.float64)
    mse = np.square(diff).mean(axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


def _box_mean(x: np.ndarray, size: int) -> np.ndarray:
    """Means over every `size x size` window that lies inside the frame.

    `x` is `(n, height, width, channels)`; the result is
    `(n, height - size + 1, width - size + 1, channels)`. Two 1-D running
    sums keep the magnitudes (and rounding) small.
    """
    for axis in (1, 2):
        c = np.cumsum(x, axis=axis)
        zero = np.zeros_like(np.take(c, [0], axis=axis))
        c = np.concatenate([zero, c], axis=axis)
        n = c.shape[axis]
        x = np.take(c, range(size, n), axis=axis) - np.take(
            c, range(n - size), axis=axis
        )
    return x / float(size * size)


def ssim_8bit(truth_u8: np.ndarray, pred_u8: np.ndarray) -> np.ndarray:
    """Mean SSIM of each 8-bit frame (Wang et al., 2004).

    Same numbers as `skimage.metrics.structural_similarity(truth, pred,
    channel_axis=-1)` on uint8 frames: a 7x7 uniform window, sample
    (co)variances, data range 255, the mean of the SSIM map over the pixels
    whose window lies inside the frame, averaged over channels.
    """
    truth = np.asarray(truth_u8, np.float64)
    pred = np.asarray(pred_u8, np.float64)
    if truth.shape != pred.shape or truth.ndim < 3:
        raise ValueError(
            "Expected 8-bit frames of the same shape (..., height, width, "
            f"channels). Received: {truth.shape} and {pred.shape}"
        )
    lead, frame = truth.shape[:-3], truth.shape[-3:]
    if min(frame[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"Expected frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels "
            f"for SSIM. Received: {frame[0]}x{frame[1]}"
        )
    x = truth.reshape((-1,) + frame)
    y = pred.reshape((-1,) + frame)
    win = SSIM_WINDOW
    cov_norm = win * win / (win * win - 1.0)
    ux, uy = _box_mean(x, win), _box_mean(y, win)
    vx = cov_norm * (_box_mean(x * x, win) - ux * ux)
    vy = cov_norm * (_box_mean(y * y, win) - uy * uy)
    vxy = cov_norm * (_box_mean(x * y, win) - ux * uy)
    c1 = (SSIM_K1 * 255.0) ** 2
    c2 = (SSIM_K2 * 255.0) ** 2
    ssim_map = ((2 * ux * uy + c1) * (2 * vxy + c2)) / (
        (ux * ux + uy * uy + c1) * (vx + vy + c2)
    )
    return ssim_map.mean(axis=(1, 2, 3)).reshape(lead)


def frame_scores(truth: np.ndarray, pred: np.ndarray) -> dict:
    """All scores of `METRIC_DEFINITIONS` for each frame.

    Args:
        truth: float frames `(..., height, width, channels)` in [0, 1].
        pred: predictions of the same shape (clipped to [0, 1] here).

    Returns:
        Dict name -> array of the leading shape of the inputs.
    """
    truth_u8, pred_u8 = to_uint8(truth), to_uint8(pred)
    return {
        "mse_frame_sum": mse_frame_sum(truth, pred),
        "mse_pixel_mean": mse_pixel_mean(truth, pred),
        "mae_frame_sum": mae_frame_sum(truth, pred),
        "mae_pixel_mean": mae_pixel_mean(truth, pred),
        "psnr_8bit": psnr_8bit(truth_u8, pred_u8),
        "ssim_8bit": ssim_8bit(truth_u8, pred_u8),
    }


class FrameMetrics:
    """Accumulates per-frame scores over test batches.

    Each score is averaged over sequences for every predicted frame index
    (the per-frame curve of the papers) and over those frames (the number
    they report).

    Example:

    >>> metrics = FrameMetrics()
    >>> truth = np.zeros((2, 3, 8, 8, 1), "float32")
    >>> metrics.update(truth, truth + 0.5)
    >>> metrics.result()["mean"]["mse_frame_sum"]
    16.0
    """

    def __init__(self):
        self.sums = None
        self.count = 0

    def update(self, truth: np.ndarray, pred: np.ndarray) -> dict:
        """Adds a batch `(n, frames, height, width, channels)`.

        Returns:
            The scores of this batch, name -> `(n, frames)`.
        """
        scores = frame_scores(truth, pred)
        if self.sums is None:
            self.sums = {k: np.zeros(v.shape[1]) for k, v in scores.items()}
        for name, values in scores.items():
            if values.shape[1] != self.sums[name].shape[0]:
                raise ValueError(
                    f"Expected {self.sums[name].shape[0]} frames per sequence "
                    f"as before. Received: {values.shape[1]}"
                )
            self.sums[name] += values.sum(axis=0)
        self.count += len(next(iter(scores.values())))
        return scores

    def result(self) -> dict:
        """`{"per_frame": name -> list, "mean": name -> float, "count": n}`."""
        if not self.count:
            raise ValueError("No sequences were scored.")
        per_frame = {k: v / self.count for k, v in self.sums.items()}
        return {
            "per_frame": {
                k: [float(x) for x in v] for k, v in per_frame.items()
            },
            "mean": {k: float(np.mean(v)) for k, v in per_frame.items()},
            "count": self.count,
        }
