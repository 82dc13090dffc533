"""Writing evaluation results: JSON, CSV, a plot and TensorBoard."""

import csv
import io
import json
import math

import imageio.v3 as iio
import numpy as np

from predrnn_keras.utils import files
from predrnn_keras.metrics import METRIC_DEFINITIONS
from predrnn_keras.plots import line_charts

PLOT_TITLES = {
    "mse_frame_sum": "MSE per frame (sum over pixels)",
    "mse_pixel_mean": "MSE per pixel",
    "mae_frame_sum": "MAE per frame (sum over pixels)",
    "mae_pixel_mean": "MAE per pixel",
    "psnr_8bit": "PSNR (dB, 8-bit)",
    "ssim_8bit": "SSIM (8-bit)",
}


def _json_number(value):
    # JSON has no inf/nan (PSNR of identical frames is inf).
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _clean(obj):
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return _json_number(obj)


def write_json(path, results: dict) -> None:
    files.write_text(path, json.dumps(_clean(results), indent=2) + "\n")


def per_frame_csv(results: dict) -> str:
    """One row per predicted frame, then a row "mean"."""
    names = list(results["per_frame"])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame"] + names)
    for i, frame in enumerate(results["frames"]):
        writer.writerow(
            [frame] + [f"{results['per_frame'][n][i]:.6g}" for n in names]
        )
    writer.writerow(["mean"] + [f"{results['mean'][n]:.6g}" for n in names])
    return out.getvalue()


def format_table(results: dict) -> str:
    """The per-frame table as aligned text, for the console."""
    names = list(results["per_frame"])
    widths = [max(len(n), 10) for n in names]
    lines = ["frame " + "  ".join(n.rjust(w) for n, w in zip(names, widths))]
    rows = [(str(f), i) for i, f in enumerate(results["frames"])]
    for label, i in rows:
        values = [results["per_frame"][n][i] for n in names]
        lines.append(
            label.rjust(5)
            + " "
            + "  ".join(f"{v:.4g}".rjust(w) for v, w in zip(values, widths))
        )
    lines.append(
        "mean".rjust(5)
        + " "
        + "  ".join(
            f"{results['mean'][n]:.4g}".rjust(w) for n, w in zip(names, widths)
        )
    )
    return "\n".join(lines)


def metrics_plot(results: dict) -> np.ndarray:
    """Per-frame curves of every score, as a uint8 RGB picture."""
    curves = {
        PLOT_TITLES.get(name, name): values
        for name, values in results["per_frame"].items()
    }
    return line_charts(results["frames"], curves, xlabel="frame")


def write_reports(out_dir, results: dict) -> dict:
    """Writes metrics.json, metrics_per_frame.csv and metrics_per_frame.png.

    Returns:
        name -> path of the written files.
    """
    paths = {
        "json": out_dir / "metrics.json",
        "csv": out_dir / "metrics_per_frame.csv",
        "plot": out_dir / "metrics_per_frame.png",
    }
    write_json(paths["json"], {**results, "definitions": METRIC_DEFINITIONS})
    files.write_text(paths["csv"], per_frame_csv(results))
    iio.imwrite(paths["plot"], metrics_plot(results))
    return paths


def write_tensorboard(log_dir, results: dict, step: int, grid=None) -> None:
    """Evaluation summaries: per-frame curves (step = frame number), the
    means (step = training iteration), the plot and a prediction grid."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    try:
        _write_summaries(writer, results, step, grid)
        writer.flush()
    finally:
        # Closed also when a write fails (a full disk), so that the event
        # file is not held open after the error.
        writer.close()


def _write_summaries(writer, results: dict, step: int, grid) -> None:
    import tensorflow as tf

    with writer.as_default():
        for name, values in results["per_frame"].items():
            for frame, value in zip(results["frames"], values):
                tf.summary.scalar(
                    f"per_frame/{name}",
                    value,
                    step=frame,
                    description=METRIC_DEFINITIONS[name],
                )
        for name, value in results["mean"].items():
            tf.summary.scalar(
                f"mean/{name}",
                value,
                step=step,
                description=METRIC_DEFINITIONS[name] + "; mean over frames",
            )
        tf.summary.image(
            "metrics_per_frame", metrics_plot(results)[None], step=step
        )
        if grid is not None:
            tf.summary.image("predictions", grid[None], step=step)
        table = "| metric | mean |\n|---|---|\n" + "\n".join(
            f"| {n} | {v:.6g} |" for n, v in results["mean"].items()
        )
        tf.summary.text("summary", table, step=step)
