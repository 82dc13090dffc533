"""Scores of predicted frames: MSE, MAE, PSNR and SSIM per frame."""

from predrnn_keras.metrics.frame_metrics import METRIC_DEFINITIONS
from predrnn_keras.metrics.frame_metrics import FrameMetrics
from predrnn_keras.metrics.frame_metrics import frame_scores
from predrnn_keras.metrics.frame_metrics import mae_frame_sum
from predrnn_keras.metrics.frame_metrics import mae_pixel_mean
from predrnn_keras.metrics.frame_metrics import mse_frame_sum
from predrnn_keras.metrics.frame_metrics import mse_pixel_mean
from predrnn_keras.metrics.frame_metrics import psnr_8bit
from predrnn_keras.metrics.frame_metrics import ssim_8bit
from predrnn_keras.metrics.frame_metrics import to_uint8

__all__ = [
    "METRIC_DEFINITIONS",
    "FrameMetrics",
    "frame_scores",
    "mae_frame_sum",
    "mae_pixel_mean",
    "mse_frame_sum",
    "mse_pixel_mean",
    "psnr_8bit",
    "ssim_8bit",
    "to_uint8",
]
