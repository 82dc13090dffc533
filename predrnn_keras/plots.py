"""Pictures of predictions and scores: grids, animation frames and charts.

Frames are float `(..., height, width, channels)` in [0, 1]; pictures are
uint8 RGB arrays `(height, width, 3)`, which TensorBoard and imageio take
as they are. One channel is shown as grey, three as RGB, any other count by
its first channel.

The frames are tiled with NumPy, pixel for pixel; matplotlib draws the text
and the charts on its Agg canvas (`Figure` and `FigureCanvasAgg`, never
pyplot, so the user's pyplot backend is left alone).
"""

import math
import os

import imageio.v3 as iio
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from predrnn_keras.utils import files

DPI = 100
BACKGROUND = (32, 32, 32)
LABEL_COLOR = (230, 230, 230)
CONTEXT_COLOR = (150, 150, 150)
TRUTH_COLOR = (80, 200, 80)
PREDICTION_COLOR = (240, 120, 60)
FONT_SIZE = 8  # points; 11 pixels at DPI


def new_figure(width: float, height: float, **kwargs) -> Figure:
    """A matplotlib `Figure` of `width` x `height` pixels."""
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI, **kwargs)


def render(figure: Figure) -> np.ndarray:
    """Draws `figure` on an Agg canvas: uint8 RGBA `(height, width, 4)`."""
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.array(canvas.buffer_rgba())


def draw_labels(image: np.ndarray, labels, color=LABEL_COLOR) -> np.ndarray:
    """`image` with text drawn on it by matplotlib.

    The text is rendered on a transparent canvas and blended in, so pixels
    away from the text keep their exact values.

    Args:
        image: uint8 RGB `(height, width, 3)`.
        labels: `(x, y, text)` or `(x, y, text, options)` tuples: `x`, `y` in
            pixels from the top-left corner, `options` for
            `Figure.text` (default: left-aligned, vertically centred).
        color: RGB of the text.

    Returns:
        A new uint8 RGB picture of the same shape.
    """
    return blend(image, text_ink(image.shape[:2], labels, color))


def blend(image: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """uint8 RGBA `ink` over uint8 RGB `image` of the same height and width."""
    alpha = ink[..., 3:].astype(np.float32) / 255.0
    blended = image * (1.0 - alpha) + ink[..., :3] * alpha
    return (blended + 0.5).astype(np.uint8)


def text_ink(shape, labels, color=LABEL_COLOR) -> np.ndarray:
    """`labels` (as `draw_labels` takes them) rendered on a transparent
    canvas of `shape` `(height, width)`: uint8 RGBA."""
    height, width = shape
    figure = new_figure(width, height)
    figure.patch.set_alpha(0.0)
    for x, y, text, *options in labels:
        figure.text(
            x / width,
            1.0 - y / height,
            text,
            **{
                "color": np.asarray(color) / 255.0,
                "fontsize": FONT_SIZE,
                "va": "center",
                **(options[0] if options else {}),
            },
        )
    return render(figure)


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


def upscale(frames: np.ndarray, min_size: int) -> np.ndarray:
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
    labels say which is which; a coloured bar above each frame marks context
    (grey), truth (green) and prediction (orange).

    Args:
        context: `(n, context_length, h, w, c)`.
        truth: `(n, horizon, h, w, c)`.
        pred: `(n, horizon, h, w, c)`.
        min_frame_size: upscale small frames to at least this many pixels.

    Returns:
        uint8 RGB picture.
    """
    context = upscale(to_rgb(context), min_frame_size)
    truth = upscale(to_rgb(truth), min_frame_size)
    pred = upscale(to_rgb(pred), min_frame_size)
    n, t_context = context.shape[:2]
    horizon = truth.shape[1]
    h, w = context.shape[2:4]
    gap, bar, header, label_width = 2, 3, 16, 34
    row_height = bar + h + gap
    sequence_height = 2 * row_height + 2 * gap
    width = label_width + (t_context + horizon) * (w + gap)
    image = np.full((header + n * sequence_height, width, 3), BACKGROUND)
    image = image.astype(np.uint8)
    labels = [
        (label_width, header / 2, "context"),
        (label_width + t_context * (w + gap), header / 2, "future"),
    ]
    rows = [
        ("true", context, truth, TRUTH_COLOR),
        ("pred", None, pred, PREDICTION_COLOR),
    ]
    for i in range(n):
        for r, (name, first, future, color) in enumerate(rows):
            y = header + i * sequence_height + r * row_height
            labels.append((3, y + bar + h / 2, name))
            tiles = [] if first is None else [(0, first[i], CONTEXT_COLOR)]
            tiles.append((t_context, future[i], color))
            for start, frames, bar_color in tiles:
                for t, frame in enumerate(frames):
                    x = label_width + (start + t) * (w + gap)
                    image[y : y + bar, x : x + w] = bar_color
                    image[y + bar : y + bar + h, x : x + w] = frame
    return draw_labels(image, labels)


def comparison_frames(
    context: np.ndarray,
    truth: "np.ndarray | None",
    pred: np.ndarray,
    min_frame_size: int = 128,
) -> np.ndarray:
    """The frames of an animation: context | truth | prediction side by side
    (context | prediction without a truth).

    During the context every panel shows the context frame (so the motion
    runs on into the future without a jump); afterwards the left panel holds
    the last context frame and the others show the true and the predicted
    future. A label above each panel and a frame counter say what is shown.

    Args:
        context: `(context_length, h, w, c)` of one sequence.
        truth: `(horizon, h, w, c)`, or None.
        pred: `(horizon, h, w, c)`.
        min_frame_size: upscale small frames to at least this many pixels.

    Returns:
        uint8 RGB frames `(context_length + horizon, height, width, 3)`.
    """
    context = upscale(to_rgb(context), min_frame_size)
    pred = upscale(to_rgb(pred), min_frame_size)
    futures = [(pred, PREDICTION_COLOR)]
    names = ["context", "prediction"]
    if truth is not None:
        futures.insert(0, (upscale(to_rgb(truth), min_frame_size), TRUTH_COLOR))
        names.insert(1, "truth")
    t_context, horizon = len(context), len(pred)
    total = t_context + horizon

    def panels(t):
        if t >= t_context:
            shown = [(frames_[t - t_context], c) for frames_, c in futures]
        else:
            shown = [(context[t], CONTEXT_COLOR)] * len(futures)
        return [(context[min(t, t_context - 1)], CONTEXT_COLOR), *shown]

    def footer(t):
        phase = "predicted" if t >= t_context else "context"
        return f"frame {t + 1}/{total}, {phase}"

    return panel_animation(names, total, panels, footer)


def panel_animation(names, count: int, panels, footer) -> np.ndarray:
    """Animation frames of equally sized pictures side by side.

    Each panel has its name above it and a coloured bar between the name
    and the picture; a line of text runs under the panels.

    Args:
        names: the title of each panel.
        count: frames of the animation.
        panels: `panels(t)` -> `[(picture, bar colour), ...]` of frame `t`,
            one per name: uint8 RGB pictures `(h, w, 3)` of one size.
        footer: `footer(t)` -> the text under frame `t`.

    Returns:
        uint8 RGB frames `(count, height, width, 3)`.
    """
    h, w = panels(0)[0][0].shape[:2]
    gap, bar, header, bottom = 4, 4, 18, 18
    width = len(names) * w + (len(names) + 1) * gap
    height = header + bar + h + bottom
    # The titles are the same on every frame: rendered once.
    titles = text_ink(
        (header, width),
        [
            (gap + k * (w + gap) + w / 2, header / 2, name, {"ha": "center"})
            for k, name in enumerate(names)
        ],
    )
    frames = np.full((count, height, width, 3), BACKGROUND, np.uint8)
    for t, image in enumerate(frames):
        for k, (picture, color) in enumerate(panels(t)):
            x = gap + k * (w + gap)
            image[header : header + bar, x : x + w] = color
            image[header + bar : header + bar + h, x : x + w] = picture
        image[:header] = blend(image[:header], titles)
        image[-bottom:] = draw_labels(
            image[-bottom:], [(gap, bottom / 2, footer(t))]
        )
    return frames


def save_gif(path: "str | os.PathLike[str]", frames: np.ndarray, fps: float):
    """Writes uint8 RGB frames as a looping GIF."""
    # Encoded in memory, then written atomically: a failed write (a full
    # disk) leaves no partial GIF and no open file, which the encoder
    # writing to the file itself would.
    data = iio.imwrite(
        "<bytes>",
        frames,
        extension=".gif",
        duration=1000.0 / fps,
        loop=0,
    )
    files.write_bytes(path, data)


def line_charts(
    x, curves: dict, xlabel: str = "", columns: int = 3
) -> np.ndarray:
    """Line charts of several curves over the same `x`, in a grid.

    Args:
        x: the shared x values (e.g. frame numbers).
        curves: title -> y values; non-finite values (an `inf` PSNR) are
            left out of the line.
        xlabel: label of every x axis.
        columns: charts per row.

    Returns:
        uint8 RGB picture of 360 x 260 pixels per chart.
    """
    rows = math.ceil(len(curves) / columns)
    figure = new_figure(360 * columns, 260 * rows, layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for i, (title, y) in enumerate(curves.items()):
        y = np.asarray(y, np.float64)
        axes[i].plot(
            x, np.where(np.isfinite(y), y, np.nan), "o-", color=f"C{i}", ms=3
        )
        axes[i].set_title(title, fontsize=9)
        axes[i].set_xlabel(xlabel, fontsize=8)
        axes[i].tick_params(labelsize=7)
        axes[i].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[i].grid(alpha=0.3)
    for ax in axes[len(curves) :]:
        ax.set_axis_off()
    return render(figure)[..., :3]
