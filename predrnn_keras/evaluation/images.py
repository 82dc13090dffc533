"""Pictures of predictions, drawn with NumPy: grids, GIF frames and plots.

Frames are float `(..., height, width, channels)` in [0, 1]; pictures are
uint8 RGB `(height, width, 3)`. One channel is shown as grey, three as RGB,
any other count by its first channel.
"""

import itertools
import math
import os

import imageio.v3 as iio
import numpy as np

from predrnn_keras.evaluation.font import GLYPH_HEIGHT
from predrnn_keras.evaluation.font import draw_text
from predrnn_keras.evaluation.font import text_size

BACKGROUND = (32, 32, 32)
LABEL = (230, 230, 230)
CONTEXT_COLOR = (150, 150, 150)
TRUTH_COLOR = (80, 200, 80)
PREDICTION_COLOR = (240, 120, 60)
LINE_COLORS = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
]


def to_rgb(frames: np.ndarray) -> np.ndarray:
    """Float frames `(..., h, w, c)` in [0, 1] -> uint8 RGB `(..., h, w, 3)`."""
    frames = np.asarray(frames, np.float32)
    if frames.shape[-1] != 3:
        frames = np.repeat(frames[..., :1], 3, axis=-1)
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def to_grey_or_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    """One float frame `(h, w, c)` -> uint8 `(h, w)` (grey) or `(h, w, 3)`."""
    frame = np.clip(np.asarray(frame, np.float32), 0.0, 1.0)
    frame = (frame * 255.0 + 0.5).astype(np.uint8)
    if frame.shape[-1] == 3:
        return frame
    return frame[..., 0]


def _upscale(frames: np.ndarray, min_size: int) -> np.ndarray:
    """Nearest-neighbour upscaling so that the smaller side is >= min_size."""
    size = min(frames.shape[-3:-1])
    factor = max(1, math.ceil(min_size / size))
    if factor == 1:
        return frames
    frames = np.repeat(frames, factor, axis=-3)
    return np.repeat(frames, factor, axis=-2)


def sequence_grid(
    context: np.ndarray,
    truth: np.ndarray,
    pred: np.ndarray,
    min_frame_size: int = 32,
) -> np.ndarray:
    """A picture of several sequences: context, truth and prediction.

    Each sequence takes two rows: the true frames (context, then the future)
    and below them the predicted frames, under the future they predict. Row
    labels say which is which; a coloured bar marks context (grey), truth
    (green) and prediction (orange).

    Args:
        context: `(n, context_length, h, w, c)`.
        truth: `(n, horizon, h, w, c)`.
        pred: `(n, horizon, h, w, c)`.
        min_frame_size: upscale small frames to at least this many pixels.

    Returns:
        uint8 RGB picture.
    """
    context = _upscale(to_rgb(context), min_frame_size)
    truth = _upscale(to_rgb(truth), min_frame_size)
    pred = _upscale(to_rgb(pred), min_frame_size)
    n, t_context = context.shape[:2]
    horizon = truth.shape[1]
    h, w = context.shape[2:4]
    gap, bar = 2, 3
    label_width = text_size("PRED")[1] + 6
    cols = t_context + horizon
    row_height = bar + h + gap
    width = label_width + cols * (w + gap)
    header = GLYPH_HEIGHT + 6
    height = header + n * (2 * row_height + 2 * gap)
    image = np.full((height, width, 3), BACKGROUND, np.uint8)
    draw_text(image, "CONTEXT", 3, label_width, LABEL)
    draw_text(image, "FUTURE", 3, label_width + t_context * (w + gap), LABEL)
    for i in range(n):
        top = header + i * (2 * row_height + 2 * gap)
        for row, (name, frames, color) in enumerate(
            [("TRUE", truth, TRUTH_COLOR), ("PRED", pred, PREDICTION_COLOR)]
        ):
            y = top + row * row_height
            draw_text(image, name, y + bar + (h - GLYPH_HEIGHT) // 2, 2, LABEL)
            for t in range(cols):
                x = label_width + t * (w + gap)
                if t < t_context:
                    if row == 1:
                        continue
                    frame, bar_color = context[i, t], CONTEXT_COLOR
                else:
                    frame, bar_color = frames[i, t - t_context], color
                image[y : y + bar, x : x + w] = bar_color
                image[y + bar : y + bar + h, x : x + w] = frame
    return image


def comparison_frames(
    context: np.ndarray,
    truth: np.ndarray,
    pred: np.ndarray,
    min_frame_size: int = 128,
) -> np.ndarray:
    """The frames of an animation: context | truth | prediction side by side.

    During the context all three panels show the context frame (so the
    motion runs on into the future without a jump); afterwards the left panel
    holds the last context frame and the others show the true and the
    predicted future. A label above each panel and a frame counter say what
    is shown.

    Args:
        context: `(context_length, h, w, c)` of one sequence.
        truth: `(horizon, h, w, c)`.
        pred: `(horizon, h, w, c)`.

    Returns:
        uint8 RGB frames `(context_length + horizon, height, width, 3)`.
    """
    context = _upscale(to_rgb(context), min_frame_size)
    truth = _upscale(to_rgb(truth), min_frame_size)
    pred = _upscale(to_rgb(pred), min_frame_size)
    t_context, horizon = len(context), len(truth)
    h, w = context.shape[1:3]
    gap, bar = 4, 4
    scale = 2 if w >= 150 else 1
    header = GLYPH_HEIGHT * scale + 8
    footer = GLYPH_HEIGHT + 8
    width = 3 * w + 4 * gap
    height = header + bar + h + footer
    frames = []
    total = t_context + horizon
    for t in range(total):
        image = np.full((height, width, 3), BACKGROUND, np.uint8)
        future = t >= t_context
        panels = [
            ("CONTEXT", context[min(t, t_context - 1)], CONTEXT_COLOR),
            (
                "TRUTH",
                truth[t - t_context] if future else context[t],
                TRUTH_COLOR if future else CONTEXT_COLOR,
            ),
            (
                "PREDICTION",
                pred[t - t_context] if future else context[t],
                PREDICTION_COLOR if future else CONTEXT_COLOR,
            ),
        ]
        for k, (label, frame, color) in enumerate(panels):
            x = gap + k * (w + gap)
            tw = text_size(label, scale)[1]
            draw_text(image, label, 4, x + (w - tw) // 2, LABEL, scale)
            image[header : header + bar, x : x + w] = color
            image[header + bar : header + bar + h, x : x + w] = frame
        phase = "PREDICTED" if future else "CONTEXT"
        draw_text(
            image,
            f"FRAME {t + 1}/{total} {phase}",
            header + bar + h + 4,
            gap,
            LABEL,
        )
        frames.append(image)
    return np.stack(frames)


def save_gif(path: "str | os.PathLike[str]", frames: np.ndarray, fps: float):
    """Writes uint8 RGB frames as a looping GIF."""
    iio.imwrite(
        path,
        frames,
        extension=".gif",
        duration=1000.0 / fps,
        loop=0,
    )


def _nice_ticks(low: float, high: float, count: int = 5) -> np.ndarray:
    span = high - low
    if span <= 0:
        return np.array([low])
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 2.5, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    start = math.ceil(low / step) * step
    return np.arange(start, high + step * 1e-9, step)


def _format_tick(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.1e}"
    return f"{value:.3g}"


def _draw_line(image, x0, y0, x1, y1, color, thickness=2):
    steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
    xs = np.rint(np.linspace(x0, x1, steps)).astype(int)
    ys = np.rint(np.linspace(y0, y1, steps)).astype(int)
    height, width = image.shape[:2]
    for dy in range(thickness):
        for dx in range(thickness):
            yy = np.clip(ys + dy - thickness // 2, 0, height - 1)
            xx = np.clip(xs + dx - thickness // 2, 0, width - 1)
            image[yy, xx] = color


def line_plot(
    x: np.ndarray,
    y: np.ndarray,
    title: str,
    xlabel: str = "",
    size: tuple[int, int] = (240, 360),
    color=LINE_COLORS[0],
) -> np.ndarray:
    """One line chart (white background) as a uint8 RGB picture."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    height, width = size
    image = np.full((height, width, 3), 255, np.uint8)
    left, right, top, bottom = 56, 12, 22, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    draw_text(image, title, 6, left, (0, 0, 0))
    finite = y[np.isfinite(y)]
    if finite.size:
        low, high = float(finite.min()), float(finite.max())
    else:
        low, high = 0.0, 1.0
    pad = 0.08 * (high - low) if high > low else max(abs(high), 1.0) * 0.1
    low, high = low - pad, high + pad
    xlow, xhigh = float(x.min()), float(x.max())
    if xhigh == xlow:
        xlow, xhigh = xlow - 1, xhigh + 1

    def px(v):
        return left + (v - xlow) / (xhigh - xlow) * (plot_w - 1)

    def py(v):
        return top + (high - v) / (high - low) * (plot_h - 1)

    grid = (225, 225, 225)
    for tick in _nice_ticks(low, high):
        yy = int(round(py(tick)))
        image[yy, left : left + plot_w] = grid
        label = _format_tick(tick)
        tw = text_size(label)[1]
        draw_text(image, label, yy - 3, left - tw - 4, (60, 60, 60))
    xticks = _nice_ticks(xlow, xhigh, count=min(10, len(x)))
    for tick in xticks:
        xx = int(round(px(tick)))
        image[top : top + plot_h, xx] = grid
        label = _format_tick(tick)
        tw = text_size(label)[1]
        draw_text(image, label, top + plot_h + 4, xx - tw // 2, (60, 60, 60))
    if xlabel:
        tw = text_size(xlabel)[1]
        draw_text(
            image, xlabel, height - 10, left + (plot_w - tw) // 2, (60, 60, 60)
        )
    image[top : top + plot_h, left] = 0
    image[top + plot_h - 1, left : left + plot_w] = 0
    points = [(px(a), py(b)) for a, b in zip(x, y) if math.isfinite(b)]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        _draw_line(image, x0, y0, x1, y1, color)
    for xx, yy in points:
        xi, yi = int(round(xx)), int(round(yy))
        image[max(yi - 2, 0) : yi + 3, max(xi - 2, 0) : xi + 3] = color
    return image


def plot_panels(curves: dict, xlabel: str = "", columns: int = 3) -> np.ndarray:
    """Line charts of several curves in a grid.

    Args:
        curves: title -> `(x, y)`.
        xlabel: label of every x axis.
        columns: charts per row.

    Returns:
        uint8 RGB picture.
    """
    charts = [
        line_plot(x, y, title, xlabel, color=LINE_COLORS[i % len(LINE_COLORS)])
        for i, (title, (x, y)) in enumerate(curves.items())
    ]
    rows = math.ceil(len(charts) / columns)
    h, w = charts[0].shape[:2]
    image = np.full((rows * h, columns * w, 3), 255, np.uint8)
    for i, chart in enumerate(charts):
        r, c = divmod(i, columns)
        image[r * h : (r + 1) * h, c * w : (c + 1) * w] = chart
    return image
