"""Pictures of rain: radar fields in pysteps' colours, nowcasts side by side.

Fields are in physical units (mm/h or dBZ, NaN for no data). Rain is
coloured with pysteps' intensity colour map ("pysteps" colour scale); no
rain is near-white and pixels outside the radar's coverage grey.
"""

import numpy as np

from predrnn_keras.nowcasting.extra import require
from predrnn_keras.plots import CONTEXT_COLOR
from predrnn_keras.plots import PREDICTION_COLOR
from predrnn_keras.plots import TRUTH_COLOR
from predrnn_keras.plots import panel_animation
from predrnn_keras.plots import upscale

NO_RAIN = (245, 245, 245)
NO_DATA = (170, 170, 170)
# The colour bar of each method's panel, after truth and the model.
OTHER_COLORS = (
    (90, 140, 230), (200, 90, 200), (200, 200, 80), (80, 200, 200),
)


def rain_rgb(values: np.ndarray, unit: str, threshold: float, coverage=None):
    """Fields `(..., H, W)` -> uint8 RGB `(..., H, W, 3)`.

    Args:
        values: rain rates or reflectivities; NaN for no data.
        unit: "mm/h" or "dBZ", which picks pysteps' colour levels.
        threshold: values below it are drawn as no rain.
        coverage: optional (H, W) bool; pixels outside it are no data.
    """
    precipfields = require("pysteps.visualization.precipfields")
    cmap, norm, _, _ = precipfields.get_colormap("intensity", unit, "pysteps")
    values = np.asarray(values, np.float64)
    rgb = (cmap(norm(np.nan_to_num(values)))[..., :3] * 255 + 0.5).astype(
        np.uint8
    )
    rgb[np.nan_to_num(values, nan=-np.inf) < threshold] = NO_RAIN
    missing = np.isnan(values)
    if coverage is not None:
        missing = missing | ~np.asarray(coverage, bool)
    rgb[missing] = NO_DATA
    return rgb


def _colors(first: list, count: int) -> list:
    """`count` frame colours: `first`, then `OTHER_COLORS` over and over."""
    others = [OTHER_COLORS[i % len(OTHER_COLORS)] for i in range(count)]
    return [*first, *others][:count]


def nowcast_frames(
    context: np.ndarray,
    truth: "np.ndarray | None",
    forecasts: dict,
    unit: str,
    threshold: float,
    timestep: float,
    coverage=None,
    min_frame_size: int = 192,
) -> np.ndarray:
    """Animation frames: observed | each forecast, side by side.

    During the context every panel shows the observed frame; afterwards the
    first panel shows what was observed and the others each method's
    forecast for that time. Without a `truth` there is no observed panel:
    each method's panel shows the observed context, then its forecast.
    Labels name the panels and the time relative to the forecast's start
    ("-25 min", "+30 min").

    Args:
        context: `(T, H, W)` observed context.
        truth: `(horizon, H, W)` observed future, or None when it is not
            known (the horizon is then the forecasts').
        forecasts: method name -> `(horizon, H, W)`, in display order.
        unit, threshold: as `rain_rgb` takes them.
        timestep: minutes between frames.
        coverage: optional (H, W) bool mask of the radar's coverage.
        min_frame_size: small fields are upscaled to at least this size.

    Returns:
        uint8 RGB frames `(T + horizon, height, width, 3)`.
    """
    def colour(fields):
        rgb = rain_rgb(fields, unit, threshold, coverage)
        return upscale(rgb, min_frame_size)

    methods = {name: colour(fields) for name, fields in forecasts.items()}
    if truth is None:
        observed = colour(context)
        names = list(methods)
        colors = _colors([PREDICTION_COLOR], len(names))
        horizon = len(next(iter(methods.values())))
    else:
        observed = colour(np.concatenate([context, truth]))
        names = ["observed", *methods]
        colors = _colors([TRUTH_COLOR, PREDICTION_COLOR], len(names))
        horizon = len(truth)
    t_context, total = len(context), len(context) + horizon

    def panels(t):
        future = t >= t_context
        shown = []
        if truth is not None:
            shown.append((observed[t], colors[0] if future else CONTEXT_COLOR))
        first = len(shown)
        for k, fields in enumerate(methods.values()):
            picture = fields[t - t_context] if future else observed[t]
            shown.append(
                (picture, colors[first + k] if future else CONTEXT_COLOR)
            )
        return shown

    def footer(t):
        minutes = (t - t_context + 1) * timestep
        phase = "forecast" if t >= t_context else "context"
        return f"{minutes:+g} min, {phase} ({unit})"

    return panel_animation(names, total, panels, footer)


def lagrangian_frames(
    context: np.ndarray,
    lagrangian: np.ndarray,
    unit: str,
    threshold: float,
    timestep: float,
    min_frame_size: int = 192,
) -> np.ndarray:
    """Animation frames of a context, observed | in the Lagrangian frame of
    its last field: what moves on the left stands still on the right, which
    keeps only the rain's growth and decay.

    Args:
        context: `(T, H, W)` observed fields.
        lagrangian: `(T, H, W)` the same fields moved to the time of the
            last one (`LagrangianFrame.to_lagrangian`).
        unit, threshold: as `rain_rgb` takes them.
        timestep: minutes between frames.
        min_frame_size: small fields are upscaled to at least this size.

    Returns:
        uint8 RGB frames `(T, height, width, 3)`.
    """
    observed = upscale(rain_rgb(context, unit, threshold), min_frame_size)
    moved = upscale(rain_rgb(lagrangian, unit, threshold), min_frame_size)
    count = len(context)

    def panels(t):
        return [(observed[t], CONTEXT_COLOR), (moved[t], PREDICTION_COLOR)]

    def footer(t):
        minutes = (t - count + 1) * timestep
        return f"{minutes:+g} min; right: moved to 0 min ({unit})"

    return panel_animation(
        ["observed", "Lagrangian frame"], count, panels, footer
    )
