"""`predict.pysteps_nowcast.forecast`: a radar model behind pysteps' nowcast
call. A model that repeats its last field, in the Lagrangian frame, gives
what pysteps' own extrapolation nowcast gives, NaN included; lead times,
grids and bad arguments follow pysteps' conventions."""

import numpy as np
import pytest

pytest.importorskip("pysteps")

from pysteps import nowcasts  # noqa: E402

from predrnn_keras.forecasters import ModelForecaster  # noqa: E402
from predrnn_keras.nowcasting.lagrangian import LagrangianFrame  # noqa: E402
from predrnn_keras.nowcasting.transform import RadarTransform  # noqa: E402
from predrnn_keras.predict import pysteps_nowcast  # noqa: E402
from tests.test_lagrangian import _NoChange  # noqa: E402
from tests.test_lagrangian import growing_blob  # noqa: E402

SIZE = 24


@pytest.fixture
def no_change(monkeypatch):
    """The model "stub": repeats its last field, in the Lagrangian frame,
    with pixels of 2 km."""
    transform = RadarTransform()
    forecaster = ModelForecaster(
        _NoChange(), transform, frame=LagrangianFrame(transform, "LK")
    )
    monkeypatch.setattr(
        pysteps_nowcast, "_model", lambda target, which: (forecaster, None, 2.0)
    )
    return forecaster


def rain():
    fields = np.stack([growing_blob(i, growth=0.0) for i in range(4)])
    fields[fields < 0.1] = 0.0
    fields[:, 20:, 20:] = np.nan  # no data in a corner
    return fields


def test_no_change_is_pysteps_extrapolation(no_change):
    precip = rain()
    velocity = np.zeros((2, SIZE, SIZE))
    velocity[0], velocity[1] = 1.5, 0.5
    ours = pysteps_nowcast.forecast(precip, velocity, 5, model="stub")
    theirs = nowcasts.get_method("extrapolation")(precip[-1], velocity, 5)
    assert ours.shape == theirs.shape == (5, SIZE, SIZE)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    assert np.isnan(ours).any()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    # Lead times as a list: those steps only.
    some = pysteps_nowcast.forecast(precip, velocity, [2, 5], model="stub")
    np.testing.assert_allclose(some, ours[[1, 4]], rtol=1e-6, equal_nan=True)


def test_motion_estimated_when_not_given(no_change):
    precip = rain()
    ours = pysteps_nowcast.forecast(precip, None, 3, model="stub")
    assert ours.shape == (3, SIZE, SIZE)
    # The blob moves on right and down (2 and 1 pixels a step).
    peak = np.unravel_index(np.nanargmax(ours[-1]), ours[-1].shape)
    start = np.unravel_index(np.nanargmax(precip[-1]), ours[-1].shape)
    assert (peak[0] - start[0], peak[1] - start[1]) == (3, 6)


def test_fields_of_another_grid_are_averaged_and_interpolated(no_change):
    precip = np.repeat(np.repeat(rain(), 2, axis=1), 2, axis=2)  # 1 km
    velocity = np.zeros((2, 2 * SIZE, 2 * SIZE))
    velocity[0] = 2.0  # 2 pixels of 1 km a step: 1 pixel of 2 km
    ours = pysteps_nowcast.forecast(precip, velocity, 2, kmperpixel=1.0)
    assert ours.shape == (2, 2 * SIZE, 2 * SIZE)
    theirs = nowcasts.get_method("extrapolation")(precip[-1], velocity, 2)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    finite = np.isfinite(ours)
    assert np.abs(ours[finite] - theirs[finite]).mean() < 0.05


@pytest.mark.parametrize(
    "args, match",
    [
        ((rain()[:2], None, 3), "T >= 4"),
        ((rain(), np.zeros((2, 5, 5)), 3), "velocity of shape"),
        ((rain(), None, [1.5]), "whole time steps"),
        ((rain(), None, [3, 2]), "ascending"),
        ((rain(), None, 0), "positive"),
    ],
)
def test_bad_arguments(no_change, args, match):
    with pytest.raises(ValueError, match=match):
        pysteps_nowcast.forecast(*args)


def test_the_shipped_radar_model_is_the_default_and_nowcasts():
    """The shipped model, by default, on a rain band moving 1.5 pixels a
    step: its forecast moves with it, keeps its intensities (probability
    matching) and follows pysteps' NaN convention."""
    from predrnn_keras import pretrained

    name = pysteps_nowcast.DEFAULT_MODEL
    assert name in pretrained.names()
    manifest = pretrained.manifest(name)
    side = manifest["frame_shape"][0]
    pixel_km = manifest["pixel_km"]
    yy, xx = np.mgrid[:side, :side].astype(np.float64)
    fields = np.stack(
        [
            8.0 * np.exp(-((xx - 20 - 1.5 * t) ** 2) / 60 - (yy - 48) ** 2 / 400)
            for t in range(6)
        ]
    )
    fields[fields < 0.1] = 0.0
    fields[:, :4, :4] = np.nan
    velocity = np.zeros((2, side, side))
    velocity[0] = 1.5
    ours = pysteps_nowcast.forecast(fields, velocity, 3, kmperpixel=pixel_km)
    theirs = nowcasts.get_method("extrapolation")(fields[-1], velocity, 3)
    assert ours.shape == (3, side, side)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    # The band's centre moves on 1.5 pixels a step, as extrapolation's does.
    columns = np.nansum(ours[-1], axis=0)
    centre = (columns * np.arange(side)).sum() / columns.sum()
    assert centre == pytest.approx(20 + 1.5 * 8, abs=1.5)
    # Matched to the last field: the same peak, no rain below 0.1 mm/h.
    assert np.nanmax(ours[-1]) == pytest.approx(np.nanmax(fields[-1]), rel=1e-4)
    assert np.nanmin(ours[ours > 0]) >= 0.1 - 1e-6
