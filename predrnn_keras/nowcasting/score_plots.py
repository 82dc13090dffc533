"""Plots of the nowcasting scores of several methods against lead time."""

import math

import numpy as np

from predrnn_keras.nowcasting.scores import CATEGORICAL_SCORES
from predrnn_keras.nowcasting.scores import check_same_axes
from predrnn_keras.plots import new_figure
from predrnn_keras.plots import render


def csi_plot(
    results_by_method: dict, threshold_index: int = 0, unit: str = "mm/h"
) -> np.ndarray:
    """CSI against lead time, one line per method, at one threshold.

    Args:
        results_by_method: method name -> `NowcastScores.result()`.
        threshold_index: which threshold.
        unit: unit of the thresholds, for the title.

    Returns:
        uint8 RGB picture of 480 x 320 pixels.
    """
    return score_plot(results_by_method, "CSI", threshold_index, unit=unit)


def score_plot(
    results_by_method: dict,
    score: str,
    threshold_index: int = 0,
    scale_index: int = 0,
    unit: str = "mm/h",
) -> np.ndarray:
    """A score against lead time, one line per method.

    Args:
        results_by_method: method name -> `NowcastScores.result()`.
        score: a categorical score ("CSI", "POD", ...) or "FSS".
        threshold_index: which threshold.
        scale_index: for the FSS, which window size.
        unit: unit of the thresholds, for the title.

    Returns:
        uint8 RGB picture of 480 x 320 pixels.
    """
    first = check_same_axes(results_by_method)
    known = (*CATEGORICAL_SCORES, "FSS")
    if score not in known:
        raise ValueError(
            f"Expected a score among {', '.join(known)}. Received: {score!r}"
        )
    threshold = first["thresholds"][threshold_index]
    title = f"{score} at >= {threshold:g} {unit}"
    if score == "FSS":
        scale = first["scales"][scale_index]
        title += f", {scale} px windows"
    figure = new_figure(480, 320, layout="constrained")
    ax = figure.subplots()
    for i, (method, result) in enumerate(results_by_method.items()):
        values = [row[threshold_index] for row in result[score]]
        if score == "FSS":
            values = [per_scale[scale_index] for per_scale in values]
        values = np.array(values, dtype=float)
        ax.plot(
            result["lead_minutes"],
            np.where(np.isfinite(values), values, np.nan),
            "o-",
            color=f"C{i}",
            ms=3,
            label=method,
        )
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("lead time (min)", fontsize=8)
    ax.set_ylabel(score, fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.tick_params(labelsize=7)
    # Ticks on the lead times themselves, at most about eight of them.
    leads = first["lead_minutes"]
    step = max(1, math.ceil(len(leads) / 8))
    ax.set_xticks(leads[step - 1 :: step])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return render(figure)[..., :3]
