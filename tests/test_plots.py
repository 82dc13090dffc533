"""Pictures: prediction grids, animation frames and per-frame charts."""

import imageio.v3 as iio
import numpy as np

from predrnn_keras import plots
from tests.workflow_helpers import run_python_json
from tests.workflow_helpers import script_env


def solid_frames(count, size, first_level):
    """`count` RGB frames of one colour each, `(count, size, size, 3)`.

    The colours (level, 255 - level, 7) are neither grey (the background and
    the text) nor a bar colour, so each frame's pixels can be found exactly.
    """
    levels = first_level + 9 * np.arange(count)
    colors = np.stack([levels, 255 - levels, np.full(count, 7)], axis=-1)
    frames = np.broadcast_to(
        colors[:, None, None, :] / 255.0, (count, size, size, 3)
    )
    return frames.astype(np.float32), colors.astype(np.uint8)


def block_of(image, color):
    """`(top, left, height, width)` of the pixels of `color`, which must
    fill that rectangle exactly."""
    ys, xs = np.nonzero(np.all(image == color, axis=-1))
    assert ys.size, f"colour {color} not drawn"
    top, left = ys.min(), xs.min()
    height, width = ys.max() - top + 1, xs.max() - left + 1
    assert ys.size == height * width, f"colour {color} is not one block"
    return top, left, height, width


def test_sequence_grid_tiles_every_frame_with_truth_above_prediction():
    context, context_colors = solid_frames(6, 8, 20)
    truth, truth_colors = solid_frames(4, 8, 80)
    pred, pred_colors = solid_frames(4, 8, 130)
    # Two sequences: the second one's frames in reverse order.
    grid = plots.sequence_grid(
        np.stack([context[:3], context[3:]]),
        np.stack([truth[:2], truth[2:]]),
        np.stack([pred[:2], pred[2:]]),
        min_frame_size=16,
    )
    assert grid.dtype == np.uint8 and grid.ndim == 3 and grid.shape[2] == 3
    blocks = {
        kind: [block_of(grid, c) for c in colors]
        for kind, colors in (
            ("context", context_colors),
            ("truth", truth_colors),
            ("pred", pred_colors),
        )
    }
    # Every frame is one 16x16 block (8x8 upscaled 2x), pixel for pixel.
    for found in blocks.values():
        assert {b[2:] for b in found} == {(16, 16)}
    for seq in range(2):
        ctx = blocks["context"][3 * seq : 3 * seq + 3]
        tru = blocks["truth"][2 * seq : 2 * seq + 2]
        prd = blocks["pred"][2 * seq : 2 * seq + 2]
        row = {b[0] for b in ctx + tru}
        assert len(row) == 1, "context and truth share a row"
        lefts = [b[1] for b in ctx + tru]
        assert lefts == sorted(lefts), "frames in time order"
        for t, p in zip(tru, prd):
            assert p[1] == t[1] and p[0] > t[0], "prediction under its truth"
    assert blocks["context"][3][0] > blocks["pred"][0][0], "sequence 2 below"
    # Labels: matplotlib's text in the margins, where no frame is.
    left_margin = grid[:, : min(b[1] for b in blocks["context"])]
    assert len(np.unique(left_margin.reshape(-1, 3), axis=0)) > 2


def test_comparison_frames_show_context_then_truth_and_prediction():
    context, context_colors = solid_frames(2, 8, 20)
    truth, truth_colors = solid_frames(3, 8, 80)
    pred, pred_colors = solid_frames(3, 8, 130)
    frames = plots.comparison_frames(context, truth, pred, min_frame_size=32)
    assert frames.dtype == np.uint8
    assert frames.shape[:1] == (5,) and frames.shape[3] == 3
    # Context: all three panels show the context frame.
    ys, xs = np.nonzero(np.all(frames[1] == context_colors[1], axis=-1))
    assert ys.size == 3 * 32 * 32
    # Future frame 2 (t = 3): last context | truth[1] | pred[1], left to right.
    panels = [
        block_of(frames[3], c)
        for c in (context_colors[1], truth_colors[1], pred_colors[1])
    ]
    assert [p[2:] for p in panels] == [(32, 32)] * 3
    assert panels[0][1] < panels[1][1] < panels[2][1]
    assert len({p[0] for p in panels}) == 1


def test_line_charts_size_and_png(tmp_path):
    frames = np.arange(11, 21)
    curves = {
        "MSE": np.linspace(1.0, 2.0, 10),
        "PSNR": np.r_[np.inf, np.linspace(20.0, 30.0, 9)],
        "SSIM": np.linspace(0.9, 0.5, 10),
        "MAE": np.linspace(0.1, 0.3, 10),
    }
    chart = plots.line_charts(frames, curves, xlabel="frame", columns=3)
    assert chart.dtype == np.uint8 and chart.shape == (2 * 260, 3 * 360, 3)
    # The first curve's colour (matplotlib's C0) is drawn.
    c0 = np.array([31, 119, 180])
    assert np.any(np.all(np.abs(chart.astype(int) - c0) < 8, axis=-1))
    path = tmp_path / "chart.png"
    iio.imwrite(path, chart)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert iio.imread(path).shape == chart.shape


def test_drawing_never_imports_pyplot():
    # No pyplot, so no backend chosen for the user's own plots.
    result = run_python_json(
        "import sys, json, numpy as np\n"
        "from predrnn_keras import plots\n"
        "plots.line_charts([1, 2], {'a': [1.0, 2.0]})\n"
        "plots.sequence_grid(*[np.zeros((1, 2, 8, 8, 1))] * 3)\n"
        "print(json.dumps('matplotlib.pyplot' in sys.modules))\n",
        script_env(),
    )
    assert result is False
