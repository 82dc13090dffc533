"""Frame metrics against values computed by hand (docs/evaluation.md,
"Metrics")."""

import math

import numpy as np
import pytest

from predrnn_keras.metrics import METRIC_DEFINITIONS
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.metrics import frame_scores
from predrnn_keras.metrics import mae_frame_sum
from predrnn_keras.metrics import mae_pixel_mean
from predrnn_keras.metrics import mse_frame_sum
from predrnn_keras.metrics import mse_pixel_mean
from predrnn_keras.metrics import psnr_8bit
from predrnn_keras.metrics import ssim_8bit
from predrnn_keras.metrics import to_uint8

C1 = (0.01 * 255) ** 2
C2 = (0.03 * 255) ** 2


def two_errors():
    """A 4x4 frame of zeros and a prediction off by 1.0 and 0.5 at two
    pixels."""
    truth = np.zeros((4, 4, 1), "float32")
    pred = truth.copy()
    pred[0, 0, 0] = 1.0
    pred[2, 3, 0] = 0.5
    return truth, pred


def test_mse_sum_over_pixels_versus_mean_per_pixel():
    truth, pred = two_errors()
    # Paper convention: 1.0^2 + 0.5^2 summed over the frame's pixels.
    assert mse_frame_sum(truth, pred) == pytest.approx(1.25)
    # Per pixel: the same divided by the 16 pixels.
    assert mse_pixel_mean(truth, pred) == pytest.approx(1.25 / 16)
    assert mae_frame_sum(truth, pred) == pytest.approx(1.5)
    assert mae_pixel_mean(truth, pred) == pytest.approx(1.5 / 16)


def test_sum_counts_channels_and_keeps_leading_axes():
    truth = np.zeros((2, 3, 4, 4, 3), "float32")
    pred = np.full_like(truth, 0.1)
    sums = mse_frame_sum(truth, pred)
    assert sums.shape == (2, 3)
    np.testing.assert_allclose(sums, 0.01 * 4 * 4 * 3, rtol=1e-5)
    np.testing.assert_allclose(mse_pixel_mean(truth, pred), 0.01, rtol=1e-5)


def test_predictions_are_clipped_to_unit_range():
    truth = np.ones((4, 4, 1), "float32")
    pred = np.full_like(truth, 1.7)
    assert mse_frame_sum(truth, pred) == 0.0
    pred = np.full_like(truth, -0.5)
    assert mse_frame_sum(truth, pred) == pytest.approx(16.0)


def test_to_uint8_truncates_like_the_reference():
    frames = np.array([0.0, 0.5, 0.999, 1.0, 1.3, -0.2], "float32")
    np.testing.assert_array_equal(to_uint8(frames), [0, 127, 254, 255, 255, 0])


def test_psnr_by_hand():
    truth = np.zeros((4, 4, 1), np.uint8)
    pred = truth.copy()
    pred[1, 1, 0] = 255
    # MSE = 255^2 / 16, so PSNR = 10 log10(255^2 / MSE) = 10 log10(16).
    assert psnr_8bit(truth, pred) == pytest.approx(10 * math.log10(16))
    pred[1, 1, 0] = 16
    expected = 10 * math.log10(255**2 / (16**2 / 16))
    assert psnr_8bit(truth, pred) == pytest.approx(expected)
    assert psnr_8bit(truth, truth) == math.inf


def test_ssim_of_identical_frames_is_one():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 2, 16, 12, 3)).astype(np.uint8)
    scores = ssim_8bit(frames, frames)
    assert scores.shape == (3, 2)
    np.testing.assert_allclose(scores, 1.0, atol=1e-12)


def test_ssim_of_constant_frames_by_hand():
    a = np.full((8, 8, 1), 100, np.uint8)
    b = np.full((8, 8, 1), 150, np.uint8)
    # Zero variances: SSIM = (2 ab + C1) / (a^2 + b^2 + C1).
    expected = (2 * 100 * 150 + C1) / (100**2 + 150**2 + C1)
    assert ssim_8bit(a, b) == pytest.approx(expected, rel=1e-12)


def brute_force_ssim(x, y):
    """SSIM re-derived window by window: 7x7 windows inside the frame,
    sample (co)variances (divide by 48), data range 255, mean over the
    windows and the channels."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    height, width, channels = x.shape
    values = []
    for c in range(channels):
        for i in range(height - 6):
            for j in range(width - 6):
                wx = x[i : i + 7, j : j + 7, c].ravel()
                wy = y[i : i + 7, j : j + 7, c].ravel()
                mx, my = wx.mean(), wy.mean()
                vx = ((wx - mx) ** 2).sum() / 48
                vy = ((wy - my) ** 2).sum() / 48
                cxy = ((wx - mx) * (wy - my)).sum() / 48
                values.append(
                    (2 * mx * my + C1)
                    * (2 * cxy + C2)
                    / ((mx**2 + my**2 + C1) * (vx + vy + C2))
                )
    return np.mean(values)


@pytest.mark.parametrize("shape", [(7, 7, 1), (10, 9, 1), (12, 8, 3)])
def test_ssim_matches_a_window_by_window_derivation(shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    noise = rng.integers(-60, 60, shape)
    y = np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8)
    assert ssim_8bit(x, y) == pytest.approx(brute_force_ssim(x, y), abs=1e-10)
    assert ssim_8bit(x, y) == pytest.approx(ssim_8bit(y, x), abs=1e-12)


def test_ssim_rejects_frames_smaller_than_the_window():
    with pytest.raises(ValueError, match="7x7"):
        ssim_8bit(
            np.zeros((6, 10, 1), np.uint8), np.zeros((6, 10, 1), np.uint8)
        )


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same shape"):
        mse_frame_sum(np.zeros((4, 4, 1)), np.zeros((4, 5, 1)))


def test_frame_scores_use_8bit_frames_for_psnr_and_ssim():
    truth, pred = two_errors()
    truth = np.pad(truth, ((0, 4), (0, 4), (0, 0)))
    pred = np.pad(pred, ((0, 4), (0, 4), (0, 0)))
    scores = frame_scores(truth, pred)
    assert set(scores) == set(METRIC_DEFINITIONS)
    # 8-bit errors: 255 and 127 (0.5 * 255 truncated) over 64 pixels.
    mse_8bit = (255**2 + 127**2) / 64
    assert scores["psnr_8bit"] == pytest.approx(
        10 * math.log10(255**2 / mse_8bit)
    )
    assert scores["mse_frame_sum"] == pytest.approx(1.25)


def test_frame_metrics_average_over_sequences_per_frame():
    metrics = FrameMetrics()
    truth = np.zeros((2, 3, 8, 8, 1), "float32")
    pred = np.zeros_like(truth)
    # Sequence 0: frame t is off by 0.1 * (t + 1) everywhere; sequence 1 is
    # exact.
    for t in range(3):
        pred[0, t] = 0.1 * (t + 1)
    metrics.update(truth[:1], pred[:1])
    metrics.update(truth[1:], pred[1:])
    result = metrics.result()
    assert result["count"] == 2
    expected = [64 * (0.1 * (t + 1)) ** 2 / 2 for t in range(3)]
    np.testing.assert_allclose(
        result["per_frame"]["mse_frame_sum"], expected, rtol=1e-5
    )
    assert result["mean"]["mse_frame_sum"] == pytest.approx(
        np.mean(expected), rel=1e-5
    )
    np.testing.assert_allclose(
        result["per_frame"]["mse_pixel_mean"],
        np.array(expected) / 64,
        rtol=1e-5,
    )
    # SSIM: sequence 1 is identical (1.0); sequence 0 constant frames.
    for t in range(3):
        a = int(0.1 * (t + 1) * 255)
        ssim0 = C1 / (a**2 + C1)
        assert result["per_frame"]["ssim_8bit"][t] == pytest.approx(
            (ssim0 + 1.0) / 2, rel=1e-9
        )


def test_frame_metrics_needs_data():
    with pytest.raises(ValueError, match="No sequences"):
        FrameMetrics().result()
