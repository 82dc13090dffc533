"""The Lagrangian frame (`nowcasting.lagrangian`, `[data] frame =
"lagrangian"`): a rain blob moving at a known velocity while it grows is
static in the Lagrangian frame, the transform and its inverse are exact
where defined, a model that repeats its last field forecasts exactly what
optical-flow extrapolation does, the reader's cached windows and their
rotations agree with the transform, and a tiny model learns the growth."""

import datetime

import imageio.v3 as iio
import numpy as np
import pytest

pytest.importorskip("pysteps")
pytest.importorskip("h5py")

from predrnn_keras import forecasters  # noqa: E402
from predrnn_keras.data import make_reader  # noqa: E402
from predrnn_keras.data import radar  # noqa: E402
from predrnn_keras.data.kinds import radar as radar_kind  # noqa: E402
from predrnn_keras.data.radar.lagrangian import motion_variant  # noqa: E402
from predrnn_keras.nowcasting.lagrangian import LagrangianFrame  # noqa: E402
from predrnn_keras.nowcasting.transform import RadarTransform  # noqa: E402
from predrnn_keras.evaluation import evaluate_model  # noqa: E402
from predrnn_keras.recipe_config import build_model  # noqa: E402
from predrnn_keras.recipe_config import recipe_from_dict  # noqa: E402
from predrnn_keras.recipe_schema import RecipeError  # noqa: E402
from tests.radar_files import write_knmi_series  # noqa: E402
from tests.test_data_radar import one_line_error  # noqa: E402
from tests.workflow_helpers import tiny_recipe  # noqa: E402

SIZE = 24
VELOCITY = (2.0, 1.0)  # pixels per step, x (right) then y (down)
START = datetime.datetime(2010, 8, 26, 0, 0)


@pytest.fixture(autouse=True)
def no_default_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def growing_blob(index: int, size=SIZE, growth=0.25) -> np.ndarray:
    """mm/h: a Gaussian blob moving VELOCITY pixels a step, its peak growing
    by `growth` mm/h a step."""
    height, width = (size, size) if isinstance(size, int) else size
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    cx, cy = 6 + VELOCITY[0] * index, 5 + VELOCITY[1] * index
    peak = 4.0 + growth * index
    return peak * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 8.0)


def constant_motion(size=SIZE) -> np.ndarray:
    motion = np.empty((2, size, size))
    motion[0], motion[1] = VELOCITY
    return motion


def inside(steps: int, size=SIZE) -> np.ndarray:
    """The pixels whose trajectory `steps` steps along the motion (back in
    time when negative) stays in the domain: (H, W) bool."""
    yy, xx = np.mgrid[:size, :size]
    x, y = xx - steps * VELOCITY[0], yy - steps * VELOCITY[1]
    return (x >= 0) & (x <= size - 1) & (y >= 0) & (y <= size - 1)


def test_a_moving_blob_stands_still_in_the_lagrangian_frame():
    frame = LagrangianFrame(motion="LK")
    frames = np.stack([growing_blob(i, growth=0.0) for i in range(8)])
    lagrangian = frame.to_lagrangian(frames, constant_motion(), 3)
    # Integer displacements: exact wherever the trajectory stays inside;
    # no rain where it comes from outside.
    for i in range(8):
        where = inside(3 - i)
        np.testing.assert_allclose(
            lagrangian[i][where], frames[3][where], atol=1e-5
        )
        assert np.all(lagrangian[i][~where] == 0.0)
        assert where.sum() > SIZE * SIZE / 4


def test_growth_is_all_that_is_left_and_the_inverse_is_exact():
    frame = LagrangianFrame()
    frames = np.stack([growing_blob(i) for i in range(8)])
    motion = constant_motion()
    lagrangian = frame.to_lagrangian(frames, motion, 3)
    peaks = lagrangian.max(axis=(1, 2))
    np.testing.assert_allclose(np.diff(peaks), 0.25, atol=1e-5)
    back = frame.from_lagrangian(lagrangian[4:], motion)
    for k in range(1, 5):
        # Defined where the trajectory back to the reference time stays
        # inside.
        where = inside(k)
        np.testing.assert_allclose(
            back[k - 1][where], frames[3 + k][where], atol=1e-5
        )
        assert where.sum() > SIZE * SIZE / 4
    # Where they come from outside, no rain, as extrapolation fills it.
    assert np.all(back[:, :, :2] == 0.0)


def test_lagrangian_frame_needs_the_motion_of_a_sequence_in_the_domain():
    frame = LagrangianFrame(RadarTransform("dBZ", 10.0, 70.0))
    # In dBZ "no rain" is the zero value, below the threshold.
    assert frame.no_rain == pytest.approx(5.0)
    field = np.full((1, 6, 6), 30.0)
    out = frame.to_lagrangian(
        np.concatenate([field, field]), np.full((2, 6, 6), 1.0), 1
    )
    assert out[0, 0, 0] == pytest.approx(5.0)
    assert out[1, 0, 0] == 30.0


class _NoChange:
    """A model that repeats its last input field."""

    input_length = 4
    patch_size = 1

    def predict_future(self, context, horizon, batch_size=32):
        return np.repeat(context[:, -1:], horizon, axis=1)


@pytest.mark.parametrize("motion", ["LK", "constant"])
def test_a_model_that_changes_nothing_is_extrapolation(motion):
    transform = RadarTransform()
    context = np.stack(
        [np.stack([growing_blob(i + s) for i in range(4)]) for s in (0, 2)]
    ).astype(np.float32)
    # Values the transform keeps: 0 or from the threshold to max_value.
    context[context < 0.1] = 0.0
    model = forecasters.ModelForecaster(
        _NoChange(), transform, frame=LagrangianFrame(transform, motion)
    )
    ours = model.forecast(context, 5)
    extrapolation = forecasters.get(
        "extrapolation", transform=transform, motion=motion
    ).forecast(context, 5)
    np.testing.assert_allclose(ours, extrapolation, rtol=1e-5, atol=1e-6)
    assert ours.shape == (2, 5, SIZE, SIZE)


def test_motion_variants_turn_with_the_fields():
    """Advecting a variant along the variant's motion is the variant of the
    advected field, for every rotation and mirror image."""
    rng = np.random.default_rng(0)
    field = rng.random((SIZE, SIZE)) * 10
    motion = np.stack(
        [np.full((SIZE, SIZE), 1.5), np.linspace(-1, 2, SIZE)[None].repeat(SIZE, 0)]
    )
    frame = LagrangianFrame()
    moved = frame.to_lagrangian(np.stack([field, field]), motion, 1)[0]
    for variant in range(8):
        turned = radar.reader._variant(field[None], variant, 8)[0]
        turned_motion = motion_variant(motion, variant, 8)
        got = frame.to_lagrangian(
            np.stack([turned, turned]), turned_motion, 1
        )[0]
        want = radar.reader._variant(moved[None], variant, 8)[0]
        np.testing.assert_allclose(got, want, atol=1e-4, err_msg=str(variant))


def lagrangian_config(tmp_path, **extra):
    config = write_knmi_series(
        tmp_path / "knmi",
        START,
        20,
        SIZE,
        lambda i, size: growing_blob(i, size) / 12.0,  # mm per 5 minutes
        splits=(10, 5, 5),
    )
    return {**config, "frame": "lagrangian", "context_length": 3, **extra}


def test_reader_serves_cached_lagrangian_windows(tmp_path, monkeypatch):
    config = lagrangian_config(tmp_path, augment=True)
    reader = make_reader(config, "train", 5)
    assert "Lagrangian frame (LK)" in reader.details
    assert reader.num_sequences == 6 * 8
    observed = make_reader({**config, "frame": "eulerian"}, "train", 5)
    frame = LagrangianFrame(reader.transform, "LK")
    for index in (0, 9, 23, 47):
        window = observed.read_physical([index])[0]
        motion = reader.read_motion([index])[0]
        want = frame.to_lagrangian(window, motion, 2)
        got = reader.read_physical([index])[0]
        np.testing.assert_allclose(got, want, atol=1e-3)
    # The motion of the first window is the blob's.
    np.testing.assert_allclose(
        reader.read_motion([0])[0].mean(axis=(1, 2)), VELOCITY, atol=0.1
    )
    # The test split is read as observed; validation in the frame.
    assert make_reader(config, "test", 5).motions is None
    assert make_reader(config, "val", 5).motions is not None
    # Computed once: a second reader reads the cache.
    calls = []
    monkeypatch.setattr(
        LagrangianFrame, "motion", lambda *a: calls.append(a) or None
    )
    again = make_reader(config, "train", 5)
    np.testing.assert_array_equal(
        again.read_physical([5]), reader.read_physical([5])
    )
    assert calls == []


def test_an_observed_split_has_no_motion(tmp_path):
    config = lagrangian_config(tmp_path)
    test = make_reader(config, "test", 5)
    message = one_line_error(ValueError, test.read_motion, [0])
    assert "eulerian" in message


def test_predictor_is_the_model_unless_lagrangian(tmp_path):
    config = lagrangian_config(tmp_path)
    kind = radar_kind.RadarKind()
    model = _NoChange()
    assert kind.predictor(model, {**config, "frame": "eulerian"}) is model
    predictor = kind.predictor(model, config)
    assert predictor.input_length == 4
    context = np.stack([growing_blob(i) for i in range(4)])[None]
    values = RadarTransform().forward(context)[..., None]
    pred = predictor.predict_future(values, 3, batch_size=1)
    assert pred.shape == (1, 3, SIZE, SIZE, 1)
    # The blob goes on moving right and down.
    peak = np.unravel_index(np.argmax(pred[0, -1, ..., 0]), (SIZE, SIZE))
    start = np.unravel_index(np.argmax(values[0, -1, ..., 0]), (SIZE, SIZE))
    assert (peak[0] - start[0], peak[1] - start[1]) == (3, 6)


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"motion": "optical"}, "motion"),
        ({"context_length": None}, "context_length"),
        ({"motion": "DARTS", "context_length": 2}, "context_length >= 3"),
        ({"frame": "sideways"}, "frame"),
    ],
)
def test_bad_lagrangian_settings_are_one_line_errors(tmp_path, extra, match):
    config = {**lagrangian_config(tmp_path), **extra}
    one_line_error(ValueError, radar.radar_settings, config, match=match)


def test_context_length_must_be_the_models_input_length(tmp_path):
    raw = tiny_recipe()
    raw["data"] = {**lagrangian_config(tmp_path), "context_length": 2}
    with pytest.raises(RecipeError, match="context_length and model.input"):
        recipe_from_dict(raw)


def doubling_blob(index: int, size) -> np.ndarray:
    """mm per 5 minutes: events of 5 frames, a blob moving one pixel right
    and down a step while its rain doubles (0.2 mm/h to 3.2 mm/h)."""
    step = index % 5
    yy, xx = np.mgrid[:size, :size].astype(np.float64)
    blob = np.exp(-((xx - 5 - step) ** 2 + (yy - 5 - step) ** 2) / 6.0)
    return 0.2 * 2.0**step * blob / 12.0


def test_a_tiny_model_learns_the_growth(tmp_path):
    """Six training events of a moving, growing blob: in the Lagrangian
    frame only the growth is left, and a tiny model learns it; through
    evaluate.py its forecast, advected back, beats extrapolation."""
    step = datetime.timedelta(minutes=5)
    config = write_knmi_series(
        tmp_path / "knmi", START, 40, 16, doubling_blob, splits=(30, 5, 5)
    )

    def event(k):
        first, last = START + 5 * k * step, START + (5 * k + 4) * step
        return [f"{first:%Y-%m-%d %H:%M}", f"{last:%Y-%m-%d %H:%M}"]

    config.update(
        frame="lagrangian",
        context_length=3,
        train_times=[event(k) for k in range(6)],
        val_times=[event(6)],
        test_times=[event(7)],
    )
    raw = tiny_recipe(
        train={"learning_rate": 1e-2}, evaluate={"horizon": 2}
    )
    raw["data"] = config
    recipe = recipe_from_dict(raw)
    model = build_model(recipe)
    train = make_reader(config, "train", 5)
    frames = train.read_batch(np.arange(train.num_sequences))
    model.fit(np.repeat(frames, 80, axis=0), batch_size=6, verbose=0)
    pred = model.predict_future(frames[:, :3], 2)
    learned = np.mean((pred - frames[:, 3:]) ** 2)
    unchanged = np.mean((frames[:, 2:3] - frames[:, 3:]) ** 2)
    assert learned < 0.6 * unchanged
    growth = pred.max(axis=(2, 3, 4))[:, -1] - frames[:, 2].max(axis=(1, 2, 3))
    assert np.all(growth > 0.05)

    results = evaluate_model(model, recipe, tmp_path / "eval", verbose=0)
    # The context observed beside the context in the Lagrangian frame.
    gif = iio.imread(tmp_path / "eval" / "gifs" / "0001_lagrangian.gif", index=None)
    assert len(gif) == 3
    nowcast = results["nowcast"]["methods"]
    # CSI at 1 mm/h, 10 minutes ahead: the blob has grown past it.
    assert nowcast["PredRNN"]["CSI"][1][1] > nowcast["extrapolation"]["CSI"][1][1]
