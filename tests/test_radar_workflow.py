"""The radar recipe end to end at tiny shapes: train on KNMI HDF5 files the
test writes, with the balanced loss, then evaluate with the nowcasting
scores beside persistence and optical-flow extrapolation."""

import csv
import datetime
import json

import numpy as np
import pytest

pytest.importorskip("pysteps")
pytest.importorskip("h5py")

from predrnn_keras import forecasters  # noqa: E402
from predrnn_keras.data import make_reader  # noqa: E402
from predrnn_keras.data.radar import to_model_units  # noqa: E402
from predrnn_keras.evaluation import evaluate  # noqa: E402
from predrnn_keras.nowcasting.scores import NowcastScores  # noqa: E402
from predrnn_keras.recipe_schema import RecipeError  # noqa: E402
from tests.radar_files import write_knmi_series  # noqa: E402
from tests.workflow_helpers import run_script  # noqa: E402
from tests.workflow_helpers import tiny_recipe  # noqa: E402
from tests.workflow_helpers import write_recipe  # noqa: E402

START = datetime.datetime(2010, 8, 26, 0, 0)
THRESHOLDS = [0.1, 1.0]


@pytest.fixture(scope="module")
def radar_run(tmp_path_factory):
    """A trained tiny radar run: 32x32 KNMI fields, 3 -> 2 frames."""
    root = tmp_path_factory.mktemp("radar")
    data = write_knmi_series(
        root / "knmi", START, 21, 32, splits=(10, 5, 6)
    )
    data.update(image_size=16, augment=True)
    raw = tiny_recipe(
        train={
            "loss": "balanced",
            "loss_thresholds": [1.0, 5.0],
            "loss_weights": [1.0, 2.0, 5.0],
            "iterations": 4,
            "eval_every": 2,
        },
        evaluate={
            "horizon": 2,
            "thresholds": THRESHOLDS,
            "fss_scales": [1, 3],
            "save_sequences": 1,
        },
    )
    raw["data"] = data
    recipe = write_recipe(root / "radar.toml", raw)
    run_dir = root / "run"
    done = run_script("train.py", recipe, "--run-dir", run_dir)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "rotated and mirrored" in done.stdout
    return run_dir, data


@pytest.mark.large
def test_trains_and_scores_beside_both_baselines(radar_run, tmp_path):
    run_dir, data = radar_run
    results, out, model, recipe = evaluate(
        run_dir, out_dir=tmp_path / "evaluation", verbose=0
    )
    # The balanced loss's thresholds reached the model in its [0, 1] units.
    assert model.prediction_loss == "balanced"
    np.testing.assert_allclose(
        model.loss_thresholds, to_model_units(data, [1.0, 5.0]), rtol=1e-6
    )

    nowcast = results["nowcast"]
    assert nowcast["unit"] == "mm/h"
    assert set(nowcast["methods"]) == {
        "PredRNN",
        "persistence",
        "extrapolation",
    }
    for scores in nowcast["methods"].values():
        assert scores["lead_minutes"] == [5, 10]
        assert scores["thresholds"] == THRESHOLDS
        assert np.shape(scores["CSI"]) == (2, 2)
        assert np.shape(scores["FSS"]) == (2, 2, 2)

    # The model's scores are those of its own forecast, turned back into
    # mm/h, on the covered pixels of the test sequences.
    reader = make_reader(recipe["data"], "test", 5)
    frames = reader.read_batch(np.arange(reader.num_sequences))
    forecast = reader.transform.inverse(
        np.clip(model.predict_future(frames[:, :3], 2), 0, 1)[..., 0]
    )
    observed = reader.transform.inverse(frames[:, 3:, ..., 0])
    observed[:, :, ~reader.coverage] = np.nan
    expected = NowcastScores(THRESHOLDS, [1, 3], [5, 10])
    expected.update(forecast, observed)
    expected = expected.result()
    for name in ("CSI", "POD", "FAR", "HSS", "ETS", "FSS"):
        np.testing.assert_allclose(
            nowcast["methods"]["PredRNN"][name], expected[name], rtol=1e-5
        )
    # Persistence: the last context frame.
    persistence = NowcastScores(THRESHOLDS, [1, 3], [5, 10])
    last = reader.transform.inverse(frames[:, 2:3, ..., 0])
    persistence.update(np.repeat(last, 2, axis=1), observed)
    np.testing.assert_allclose(
        nowcast["methods"]["persistence"]["CSI"],
        persistence.result()["CSI"],
        rtol=1e-6,
    )

    # Reports: the JSON, the long CSV, a CSI plot per threshold, an FSS plot
    # per threshold and scale, a rain GIF.
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["nowcast"]["methods"]["PredRNN"]["thresholds"] == THRESHOLDS
    rows = list(csv.DictReader((out / "nowcast_scores.csv").open()))
    # 3 methods x 2 leads x 2 thresholds x (5 categorical + 2 FSS scales).
    assert len(rows) == 3 * 2 * 2 * 7
    assert (out / "csi_0.1.png").is_file() and (out / "csi_1.png").is_file()
    assert (out / "fss_1_3px.png").is_file()
    assert (out / "gifs" / "0001_rain.gif").is_file()


@pytest.mark.large
def test_evaluate_script_prints_the_score_table(radar_run, tmp_path):
    run_dir, _ = radar_run
    done = run_script(
        "evaluate.py",
        run_dir,
        "--out",
        tmp_path / "out",
        "--set",
        "evaluate.extrapolation=none",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nowcasting scores (mm/h" in done.stdout
    assert "PredRNN" in done.stdout and "persistence" in done.stdout
    assert "extrapolation" not in done.stdout.split("Nowcasting scores")[1]


class Zeros(forecasters.Forecaster):
    """A baseline of a test's own: no rain anywhere."""

    name = "zeros"

    def __init__(self, **options):
        pass

    def forecast(self, context, horizon):
        batch, _, height, width = np.shape(context)
        return np.zeros((batch, horizon, height, width), np.float32)


@pytest.mark.large
def test_a_registered_baseline_is_scored_by_name(radar_run, tmp_path):
    run_dir, _ = radar_run
    forecasters.register("zeros", Zeros)
    try:
        results, *_ = evaluate(
            run_dir,
            overrides=['evaluate.baselines=["zeros"]'],
            out_dir=tmp_path / "evaluation",
            verbose=0,
        )
    finally:
        forecasters.FORECASTERS.unregister("zeros")
    methods = results["nowcast"]["methods"]
    assert set(methods) == {"PredRNN", "zeros"}
    # Never forecasting rain: no hit, so CSI and POD are 0 wherever it
    # rained, and FAR is undefined.
    assert np.nanmax(methods["zeros"]["POD"]) == 0.0
    with pytest.raises(RecipeError, match=r"evaluate.baselines: .*zeros"):
        evaluate(run_dir, overrides=['evaluate.baselines=["zeros"]'])


def test_a_packaged_radar_model_carries_its_pixels_and_scores(
    radar_run, tmp_path
):
    from predrnn_keras.cli.package import package

    run_dir, _ = radar_run
    folder = package(
        run_dir, "tiny_radar", destination=tmp_path / "shipped", verbose=0
    )
    manifest = json.loads((folder / "manifest.json").read_text())
    # 32 pixels of the test files' 1 km grid averaged to 16.
    assert manifest["pixel_km"] == pytest.approx(2.0, rel=1e-4)
    nowcast = manifest["nowcast"]
    assert nowcast["lead_minutes"] == [5, 10]
    assert nowcast["thresholds"] == THRESHOLDS
    assert set(nowcast) >= {"PredRNN", "persistence", "extrapolation"}
    assert len(nowcast["PredRNN"]["CSI"]) == 2
    assert len(nowcast["PredRNN"]["CSI"][0]) == len(THRESHOLDS)
