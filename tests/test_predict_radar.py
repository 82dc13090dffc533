"""predict.py on a folder of radar files, for models of radar recipes: KNMI
HDF5 files the tests write, an untrained (randomised) tiny model."""

import datetime
import json
import shutil

import imageio.v3 as iio
import numpy as np
import pytest

pytest.importorskip("pysteps")
pytest.importorskip("h5py")

from predrnn_keras.cli.predict import main as predict_main  # noqa: E402
from predrnn_keras.data.data_error import DataError  # noqa: E402
from predrnn_keras.data.radar import get_importer  # noqa: E402
from predrnn_keras.data.radar import radar_settings  # noqa: E402
from predrnn_keras.data.radar import read_radar_file  # noqa: E402
from predrnn_keras.metrics import FrameMetrics  # noqa: E402
from predrnn_keras.nowcasting.pictures import rain_rgb  # noqa: E402
from predrnn_keras.nowcasting.scores import NowcastScores  # noqa: E402
from predrnn_keras.predict import PredictError  # noqa: E402
from predrnn_keras.predict import forecast  # noqa: E402
from predrnn_keras.predict import load_model  # noqa: E402
from tests.radar_files import KNMI_PATTERN  # noqa: E402
from tests.radar_files import knmi_path  # noqa: E402
from tests.radar_files import rain_blob  # noqa: E402
from tests.radar_files import write_knmi_hdf5  # noqa: E402
from tests.radar_files import write_knmi_series  # noqa: E402
from tests.workflow_helpers import untrained_run  # noqa: E402

START = datetime.datetime(2010, 8, 26, 0, 0)
STEP = datetime.timedelta(minutes=5)
# The tiny recipe: 32x32 KNMI fields averaged to 16x16, trained 3 -> 2.
CONTEXT, HORIZON, SIZE, FIELD = 3, 2, 16, 32
THRESHOLDS, SCALES = [0.1, 1.0], [1, 3]


def untrained_radar_run(run_dir, data: dict):
    """A run folder of the tiny recipe on radar `data`, holding a
    randomised best.keras (no training)."""
    return untrained_run(
        run_dir,
        data=data,
        evaluate={"thresholds": THRESHOLDS, "fss_scales": SCALES},
    )


@pytest.fixture(scope="module")
def radar_run(tmp_path_factory):
    """`(run_dir, data)`: a run of a mm/h recipe whose data are 8 files."""
    root = tmp_path_factory.mktemp("predict_radar")
    data = write_knmi_series(root / "knmi", START, 8, FIELD, splits=(4, 2, 2))
    data["image_size"] = SIZE
    return untrained_radar_run(root / "run", data), data


@pytest.fixture(scope="module")
def model(radar_run):
    return load_model(radar_run[0])[0]


def write_files(folder, count, start=START):
    """`count` KNMI files 5 minutes apart under `folder` (a rain blob that
    moves); their times."""
    times = [start + k * STEP for k in range(count)]
    for index, moment in enumerate(times):
        write_knmi_hdf5(
            knmi_path(folder, moment), rain_blob(index, FIELD), time=moment
        )
    return times


def read_fields(data, folder, times):
    """The files of `times` as the recipe reads them, (T, H, W) mm/h."""
    settings = radar_settings(data)
    importer = get_importer(settings.importer)
    return np.stack(
        [
            read_radar_file(knmi_path(folder, t), settings, importer)
            for t in times
        ]
    )


def model_forecast(model, data, fields, horizon=HORIZON):
    """The model's own rollout of physical fields, back in their unit, and
    its [0, 1] values."""
    transform = radar_settings(data).transform
    inputs = transform.forward(fields)[None, ..., None]
    pred = np.clip(model.predict_future(inputs, horizon, batch_size=1), 0, 1)
    pred = np.asarray(pred)[0]
    return transform.inverse(pred[..., 0]), pred


def iso(moment):
    return moment.isoformat()


def test_forecast_from_the_last_files(radar_run, model, tmp_path):
    run_dir, data = radar_run
    folder = tmp_path / "storm"
    times = write_files(folder, 6)
    out = tmp_path / "out"
    summary = forecast(run_dir, folder, out_dir=out, verbose=0)

    (entry,) = summary["sequences"]
    assert entry["name"] == "storm"
    assert entry["unit"] == summary["unit"] == "mm/h"
    assert summary["horizon"] == HORIZON  # what the run trained for
    assert entry["context_times"] == [iso(times[3]), iso(times[5])]
    assert entry["forecast_times"] == [
        iso(times[5] + STEP), iso(times[5] + 2 * STEP)
    ]
    assert entry["notes"] == ["used its last 3 of 6 files as the context"]
    assert entry["pattern"] == KNMI_PATTERN
    assert "scores" not in summary and "nowcast" not in entry

    # The forecast is the model's own, of the last three files, in mm/h.
    predicted = np.load(out / "storm" / "forecast.npy")
    assert predicted.dtype == np.float32
    assert predicted.shape == (HORIZON, SIZE, SIZE)
    assert np.isfinite(predicted).all()
    fields = read_fields(data, folder, times)
    expected, _ = model_forecast(model, data, fields[-CONTEXT:])
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-5)
    first, _ = model_forecast(model, data, fields[:CONTEXT])
    assert not np.allclose(predicted, first, rtol=1e-3, atol=1e-3)

    # Rain-coloured PNGs, a GIF of the context then the forecast.
    pngs = sorted(p.name for p in (out / "storm").glob("*.png"))
    assert pngs == ["forecast_01.png", "forecast_02.png"]
    np.testing.assert_array_equal(
        iio.imread(out / "storm" / "forecast_02.png"),
        rain_rgb(predicted[1], "mm/h", 0.1),
    )
    gif = iio.imread(out / "storm" / "forecast.gif", index=None)
    assert len(gif) == CONTEXT + HORIZON
    saved = json.loads((out / "summary.json").read_text())
    assert saved["sequences"][0]["forecast_times"] == entry["forecast_times"]


def test_score_against_the_files_after_the_context(radar_run, model, tmp_path):
    run_dir, data = radar_run
    folder = tmp_path / "event"
    times = write_files(folder, 7)
    out = tmp_path / "out"
    summary = forecast(
        run_dir, folder, out_dir=out, score=True, verbose=0
    )
    (entry,) = summary["sequences"]
    assert entry["context_times"] == [iso(times[0]), iso(times[2])]
    assert entry["forecast_times"] == [iso(times[3]), iso(times[4])]
    assert entry["notes"] == ["scored files 1..5 of 7"]

    fields = read_fields(data, folder, times)
    expected, pred = model_forecast(model, data, fields[:CONTEXT])
    np.testing.assert_allclose(
        np.load(out / "event" / "forecast.npy"), expected, rtol=1e-4,
        atol=1e-5,
    )
    truth = fields[CONTEXT:CONTEXT + HORIZON]
    scores = NowcastScores(THRESHOLDS, SCALES, [5, 10])
    scores.update(expected[None], truth[None])
    reference = scores.result()
    for result in (entry["nowcast"], summary["nowcast"]["methods"]["PredRNN"]):
        assert result["lead_minutes"] == [5, 10]
        assert result["thresholds"] == THRESHOLDS
        for name in ("CSI", "POD", "FAR", "HSS", "ETS", "FSS"):
            np.testing.assert_allclose(
                result[name], reference[name], rtol=1e-5, err_msg=name
            )
    assert summary["nowcast"]["unit"] == "mm/h"
    # Another truth (the last two files) scores otherwise.
    other = NowcastScores(THRESHOLDS, SCALES, [5, 10])
    other.update(expected[None], fields[None, -HORIZON:])
    assert other.counts() != scores.counts()

    # The frame metrics, on the model's [0, 1] values.
    metrics = FrameMetrics()
    transform = radar_settings(data).transform
    metrics.update(transform.forward(truth)[None, ..., None], pred[None])
    for name, value in metrics.result()["mean"].items():
        assert summary["scores"]["mean"][name] == pytest.approx(
            value, rel=1e-4, abs=1e-6
        )
    for report in ("metrics.json", "nowcast_scores.csv", "csi_0.1.png",
                   "csi_1.png"):
        assert (out / report).is_file(), report
    # Observed | PredRNN: wider than the single panel of a plain forecast.
    scored_gif = iio.imread(out / "event" / "forecast.gif", index=None)
    plain = tmp_path / "plain"
    forecast(run_dir, folder, out_dir=plain, verbose=0)
    plain_gif = iio.imread(plain / "event" / "forecast.gif", index=None)
    assert len(scored_gif) == CONTEXT + HORIZON
    assert scored_gif.shape[2] > plain_gif.shape[2]


def test_gaps_and_too_few_files(radar_run, tmp_path):
    run_dir, _ = radar_run
    folder = tmp_path / "gappy"
    times = write_files(folder, 6)
    knmi_path(folder, times[4]).unlink()  # inside the last three
    with pytest.raises(DataError, match=r"gappy: no file for 2010-08-26 "
                       r"00:20 \(pattern .*\): the context needs 3 files 5 "
                       r"minutes apart, from 2010-08-26 00:15 to "):
        forecast(run_dir, folder, out_dir=tmp_path / "a", verbose=0)
    assert not (tmp_path / "a").exists()
    # A gap before the context does not matter; with --score it does.
    folder = tmp_path / "early_gap"
    times = write_files(folder, 6)
    knmi_path(folder, times[1]).unlink()
    summary = forecast(run_dir, folder, out_dir=tmp_path / "b", verbose=0)
    assert summary["sequences"][0]["context_times"][0] == iso(times[3])
    with pytest.raises(DataError, match=r"early_gap: no file for 2010-08-26 "
                       r"00:05 .*the context and truth need 5 files"):
        forecast(run_dir, folder, out_dir=tmp_path / "c", score=True,
                 verbose=0)

    folder = tmp_path / "short"
    write_files(folder, 2)
    with pytest.raises(DataError, match=r"short: 2 file\(s\) match the "
                       r"pattern .*; the model needs a context of 3 files, "
                       r"5 minutes apart"):
        forecast(run_dir, folder, out_dir=tmp_path / "d", verbose=0)
    folder = tmp_path / "four"
    write_files(folder, 4)
    with pytest.raises(DataError, match=r"four: 4 file\(s\) match .*--score "
                       r"needs 3 context files and 2 future ones \(5\)"):
        forecast(run_dir, folder, out_dir=tmp_path / "e", score=True,
                 verbose=0)


def test_no_matching_file_and_frame_options(radar_run, tmp_path, capsys):
    run_dir, _ = radar_run
    folder = tmp_path / "flat"
    times = write_files(tmp_path / "nested", 3)
    folder.mkdir()
    for t in times:  # not in the pattern's %Y/%m/ subfolders
        shutil.copy(knmi_path(tmp_path / "nested", t), folder)
    status = predict_main(
        [str(folder), "--model", str(run_dir), "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"error: {folder}: no file matches the pattern ")
    assert KNMI_PATTERN in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(PredictError, match=r"--fit does not apply to radar"):
        forecast(run_dir, tmp_path / "nested", out_dir=tmp_path / "p",
                 fit="resize", verbose=0)


def test_command_line_and_a_keras_file_with_its_recipe(radar_run, tmp_path,
                                                       capsys):
    run_dir, data = radar_run
    folder = tmp_path / "radar"
    times = write_files(folder, 4)
    model_path = tmp_path / "model.keras"
    shutil.copy(run_dir / "best.keras", model_path)
    out = tmp_path / "out"
    status = predict_main(
        [str(folder), "--model", str(model_path), "--recipe",
         str(run_dir / "recipe.toml"), "--out", str(out), "--horizon", "3"]
    )
    assert status == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "radar: used its last 3 of 4 files as the context" in printed
    assert np.load(out / "radar" / "forecast.npy").shape == (3, SIZE, SIZE)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences"][0]["forecast_times"] == [
        iso(times[-1] + k * STEP) for k in (1, 2, 3)
    ]
    # Without its recipe a .keras file reads the folder as frames, as ever.
    status = predict_main(
        [str(folder), "--model", str(model_path), "--out",
         str(tmp_path / "frames")]
    )
    assert status == 2
    assert "holds no video" in capsys.readouterr().err


def test_reflectivity_in_dbz(tmp_path):
    folder = tmp_path / "knmi"
    data = write_knmi_series(folder, START, 4, FIELD, splits=(2, 1, 1))
    data.update(image_size=SIZE, unit="dBZ")
    run_dir = untrained_radar_run(tmp_path / "run", data)
    summary = forecast(run_dir, folder, out_dir=tmp_path / "out", verbose=0)
    assert summary["sequences"][0]["unit"] == "dBZ"
    model = load_model(run_dir)[0]
    fields = read_fields(data, folder, [START + k * STEP for k in (1, 2, 3)])
    expected, _ = model_forecast(model, data, fields)
    predicted = np.load(tmp_path / "out" / "knmi" / "forecast.npy")
    np.testing.assert_allclose(predicted, expected, rtol=1e-4, atol=1e-4)
    # dBZ: the zero value (threshold - 5 dBZ) and up, never mm/h's zero.
    assert predicted.min() >= 5.0 - 1e-4


def test_an_untrained_lagrangian_residual_model_is_extrapolation(tmp_path):
    """In the Lagrangian frame, a residual model that has learned nothing
    forecasts a folder of radar files exactly as optical-flow extrapolation
    does."""
    from predrnn_keras import forecasters
    from predrnn_keras.recipe_config import build_model
    from predrnn_keras.recipe_config import dump_recipe
    from predrnn_keras.recipe_config import recipe_from_dict
    from tests.workflow_helpers import tiny_recipe

    data = write_knmi_series(
        tmp_path / "knmi", START, 8, FIELD, splits=(4, 2, 2)
    )
    data.update(image_size=SIZE, frame="lagrangian", context_length=CONTEXT)
    raw = tiny_recipe(model={"residual": True})
    raw["data"] = data
    recipe = recipe_from_dict(raw)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dump_recipe(recipe, run_dir / "recipe.toml")
    build_model(recipe).save(run_dir / "best.keras")

    folder = tmp_path / "storm"
    times = write_files(folder, 6)
    out = tmp_path / "out"
    forecast(run_dir, folder, out_dir=out, verbose=0)
    predicted = np.load(out / "storm" / "forecast.npy")
    fields = read_fields(data, folder, times)[-CONTEXT:]
    # Values the dB transform keeps: no rain below the threshold.
    fields[fields < 0.1] = 0.0
    transform = radar_settings(data).transform
    extrapolation = forecasters.get(
        "extrapolation", transform=transform
    ).forecast(fields[None], HORIZON)[0]
    # The forecast is written through the model's values: below the
    # threshold, no rain.
    extrapolation = transform.inverse(transform.forward(extrapolation))
    np.testing.assert_allclose(predicted, extrapolation, rtol=1e-5, atol=1e-5)
    assert predicted.max() > 1.0
