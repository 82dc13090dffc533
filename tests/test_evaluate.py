"""evaluate.py's library: per-frame scores, reports, frames, GIFs."""

import csv
import json

import imageio.v3 as iio
import keras
import numpy as np
import pytest
import tensorflow as tf

from predrnn_keras.data import build_dataset
from predrnn_keras.evaluation import evaluate
from predrnn_keras.metrics import METRIC_DEFINITIONS
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.run_folder import RunFolderError
from tests.workflow_helpers import run_script
from tests.workflow_helpers import untrained_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run folder with an (untrained, randomised) best.keras."""
    return untrained_run(tmp_path_factory.mktemp("evaluate") / "run")


@pytest.mark.large
def test_evaluates_a_longer_horizon_than_trained(run_dir):
    # Trained 3 -> 2 (total_length 5), evaluated 3 -> 6.
    results, out, model, recipe = evaluate(
        run_dir, overrides=["evaluate.horizon=6"], verbose=0
    )
    assert out == run_dir / "evaluation"
    assert results["frames"] == [4, 5, 6, 7, 8, 9]
    assert results["num_sequences"] == 8
    assert set(results["mean"]) == set(METRIC_DEFINITIONS)
    for values in results["per_frame"].values():
        assert len(values) == 6

    # The scores are those of the model's own rollout on the test split.
    data = build_dataset(
        recipe["data"], "test", batch_size=8, total_length=9, patch_size=4
    )
    frames = np.concatenate(list(data.as_numpy_iterator()))
    pred = model.predict_future(frames[:, :3], 6)
    expected = FrameMetrics()
    expected.update(frames[:, 3:], pred)
    expected = expected.result()
    for name in METRIC_DEFINITIONS:
        np.testing.assert_allclose(
            results["per_frame"][name], expected["per_frame"][name], rtol=1e-6
        )

    # Reports: JSON, CSV, plot.
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["frames"] == results["frames"]
    assert saved["definitions"]["mse_frame_sum"].startswith("squared error")
    np.testing.assert_allclose(
        saved["mean"]["mse_frame_sum"], results["mean"]["mse_frame_sum"]
    )
    with open(out / "metrics_per_frame.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["frame"] + list(METRIC_DEFINITIONS)
    assert [r[0] for r in rows[1:]] == ["4", "5", "6", "7", "8", "9", "mean"]
    assert float(rows[-1][1]) == pytest.approx(
        results["mean"]["mse_frame_sum"], rel=1e-5
    )
    # Six charts of 360 x 260 pixels, three per row.
    assert (out / "metrics_per_frame.png").read_bytes()[:4] == b"\x89PNG"
    assert iio.imread(out / "metrics_per_frame.png").shape == (520, 1080, 3)
    # Four sequences of 3 + 6 frames, upscaled to 32 pixels: the first
    # context frame is in the grid, pixel for pixel.
    grid = iio.imread(out / "predictions_grid.png")
    assert grid.ndim == 3 and grid.shape[1] > 9 * 32 and grid.shape[0] > 8 * 32
    first = np.repeat(np.repeat(frames[0, 0], 2, axis=0), 2, axis=1)
    first = (np.clip(first, 0, 1) * 255 + 0.5).astype(np.uint8)[..., 0]
    ys, xs = np.nonzero(grid[..., 0] == first[0, 0])
    assert any(
        np.array_equal(grid[y : y + 32, x : x + 32, 0], first)
        for y, x in zip(ys, xs)
    )

    # Frames like the reference (gt1..gt9, pd4..pd9) and GIFs, for the first
    # save_sequences (2) sequences.
    assert sorted(p.name for p in (out / "frames").iterdir()) == [
        "0001",
        "0002",
    ]
    names = {p.name for p in (out / "frames" / "0001").iterdir()}
    assert names == {f"gt{t}.png" for t in range(1, 10)} | {
        f"pd{t}.png" for t in range(4, 10)
    }
    gt4 = iio.imread(out / "frames" / "0001" / "gt4.png")
    np.testing.assert_allclose(
        gt4 / 255.0, frames[0, 3, ..., 0], atol=0.5 / 255 + 1e-6
    )
    pd4 = iio.imread(out / "frames" / "0001" / "pd4.png")
    np.testing.assert_allclose(
        pd4 / 255.0, np.clip(pred[0, 0, ..., 0], 0, 1), atol=0.5 / 255 + 1e-6
    )
    gif = iio.imread(out / "gifs" / "0001.gif", index=None)
    assert gif.shape[0] == 9  # 3 context + 6 predicted frames

    # TensorBoard, next to the training logs.
    events = list((run_dir / "logs" / "evaluation").glob("events.*"))
    assert events
    tags = set()
    for event in tf.compat.v1.train.summary_iterator(str(events[0])):
        tags |= {v.tag for v in event.summary.value}
    assert {
        "per_frame/mse_frame_sum",
        "mean/ssim_8bit",
        "metrics_per_frame",
        "predictions",
    } <= tags

    # A second evaluation never overwrites the first.
    _, second, _, _ = evaluate(
        run_dir, overrides=["evaluate.num_sequences=3"], verbose=0
    )
    assert second == run_dir / "evaluation-2"
    assert (
        json.loads((second / "metrics.json").read_text())["num_sequences"] == 3
    )
    assert json.loads((out / "metrics.json").read_text())["num_sequences"] == 8


def test_a_keras_file_outside_a_run_folder_needs_a_recipe(run_dir, tmp_path):
    model = keras.saving.load_model(run_dir / "best.keras")
    path = tmp_path / "model.keras"
    model.save(path)
    with pytest.raises(RunFolderError, match="--recipe"):
        evaluate(path, verbose=0)
    with pytest.raises(RunFolderError, match="not a run folder"):
        evaluate(tmp_path, verbose=0)


@pytest.mark.large
def test_evaluate_script_prints_the_table(run_dir, tmp_path):
    model = keras.saving.load_model(run_dir / "best.keras")
    path = tmp_path / "model.keras"
    model.save(path)
    done = run_script(
        "evaluate.py",
        path,
        "--recipe",
        run_dir / "recipe.toml",
        "--set",
        "evaluate.num_sequences=4",
        "--set",
        "evaluate.save_sequences=1",
    )
    assert done.returncode == 0, done.stderr
    assert "MSE per frame (sum over pixels" in done.stdout
    assert "mse_frame_sum" in done.stdout and "ssim_8bit" in done.stdout
    out = tmp_path / "model-evaluation"
    assert (out / "metrics.json").is_file()
    assert (out / "gifs" / "0001.gif").is_file()
    bad = run_script("evaluate.py", path)
    assert bad.returncode == 2 and "--recipe" in bad.stderr
