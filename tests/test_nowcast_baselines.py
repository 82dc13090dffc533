"""Baseline nowcasts: persistence and optical-flow extrapolation."""

import numpy as np
import pytest

pytest.importorskip("pysteps")

from predrnn_keras import forecasters  # noqa: E402
from predrnn_keras.nowcasting import baselines  # noqa: E402
from predrnn_keras.nowcasting.scores import NowcastScores  # noqa: E402
from predrnn_keras.nowcasting.transform import RadarTransform  # noqa: E402

SIZE, CONTEXT, HORIZON, STEP = 64, 4, 6, 2  # pixels, frames, frames, px/frame


def moving_blob(frames, peak=20.0, start_x=14.0, sigma=6.0):
    """A Gaussian rain blob (mm/h) moving STEP pixels right per frame."""
    y, x = np.mgrid[:SIZE, :SIZE].astype(np.float64)
    return np.stack(
        [
            peak
            * np.exp(
                -((x - start_x - STEP * t) ** 2 + (y - SIZE / 2) ** 2)
                / (2 * sigma**2)
            )
            for t in range(frames)
        ]
    ).astype(np.float32)


@pytest.fixture(scope="module")
def blob():
    sequence = moving_blob(CONTEXT + HORIZON)
    return sequence[:CONTEXT], sequence[CONTEXT:]


def test_persistence_repeats_the_last_frame(blob):
    context, _ = blob
    context = context.copy()
    context[-1, 0, 0] = np.nan
    nowcast = baselines.persistence(context, 3)
    assert nowcast.shape == (3, SIZE, SIZE) and nowcast.dtype == np.float32
    for frame in nowcast:
        np.testing.assert_array_equal(frame, context[-1])


def test_motion_field_points_along_the_motion(blob):
    context, _ = blob
    velocity = baselines.motion_field(context)
    assert velocity.shape == (2, SIZE, SIZE)
    centre = (SIZE // 2, 14 + STEP * (CONTEXT - 1))
    assert velocity[0][centre] == pytest.approx(STEP, abs=0.2)
    assert velocity[1][centre] == pytest.approx(0.0, abs=0.2)


def test_extrapolation_beats_persistence_on_a_moving_blob(blob):
    context, future = blob
    extrapolated = baselines.extrapolation(context, HORIZON)
    persisted = baselines.persistence(context, HORIZON)
    assert extrapolated.shape == (HORIZON, SIZE, SIZE)
    assert extrapolated.dtype == np.float32
    assert np.all(np.isfinite(extrapolated))
    mse = {
        name: np.mean((nowcast - future) ** 2, axis=(1, 2))
        for name, nowcast in [("ex", extrapolated), ("pe", persisted)]
    }
    assert np.all(mse["ex"] < 0.25 * mse["pe"])
    csi = {}
    for name, nowcast in [("ex", extrapolated), ("pe", persisted)]:
        metric = NowcastScores([1.0], [1], list(range(5, 35, 5)))
        metric.update(nowcast[None], future[None])
        csi[name] = np.array(metric.result()["CSI"])[:, 0]
    assert np.all(csi["ex"][1:] > csi["pe"][1:] + 0.05)
    assert np.all(csi["ex"] > 0.9)
    # The blob's peak moves STEP pixels right per lead step.
    peaks = [np.unravel_index(np.argmax(f), f.shape)[1] for f in extrapolated]
    assert peaks == [14 + STEP * (CONTEXT - 1 + k) for k in range(1, 7)]


def test_inflow_and_no_data_become_no_rain(blob):
    context, _ = blob
    context = context.copy()
    context[:, :4, :4] = np.nan  # no data in a corner
    nowcast = baselines.extrapolation(context, HORIZON)
    assert np.all(np.isfinite(nowcast))
    # Pixels that come from left of the domain are 0 mm/h.
    np.testing.assert_array_equal(nowcast[:, :, 0], 0.0)


def test_dbz_inflow_is_the_zero_value():
    # Reflectivity: no rain is the transform's zero value, 10 - 5 = 5 dBZ.
    transform = RadarTransform(unit="dBZ", threshold=10.0, max_value=70.0)
    rain = moving_blob(CONTEXT)
    dbz = np.where(rain > 0.1, 20.0 + rain, 0.0)
    dbz[:, :4, :4] = np.nan
    nowcast = baselines.extrapolation(dbz, 2, transform=transform)
    assert np.all(np.isfinite(nowcast))
    assert transform.zero_db == 5.0
    np.testing.assert_array_equal(nowcast[:, :, 0], np.float32(5.0))
    assert nowcast.max() == pytest.approx(40.0, abs=1.0)


def test_other_motion_methods(blob):
    context, _ = blob
    for method in ("farneback", "proesmans", "constant"):
        velocity = baselines.motion_field(context, method)
        assert velocity[0].mean() > 1.0, method
        nowcast = baselines.extrapolation(context, 2, method)
        assert nowcast.shape == (2, SIZE, SIZE)


def test_baselines_as_forecasters(blob):
    context, _ = blob
    batch = np.stack([context, context[:, :, ::-1]])
    transform = RadarTransform()
    for name in ("persistence", "extrapolation"):
        method = forecasters.get(name, transform=transform, motion="lk")
        nowcast = method.forecast(batch, 3)
        assert nowcast.shape == (2, 3, SIZE, SIZE)
        assert nowcast.dtype == np.float32
        for sequence, out in zip(batch, nowcast):
            single = (
                baselines.persistence(sequence, 3)
                if name == "persistence"
                else baselines.extrapolation(sequence, 3, "lk", transform)
            )
            np.testing.assert_array_equal(out, single)
    # The mirrored blob moves left.
    assert baselines.motion_field(batch[1])[0].mean() < -1.0


def test_unknown_method_and_bad_arguments(blob):
    context, _ = blob
    with pytest.raises(ValueError, match="one of LK, DARTS, VET"):
        baselines.extrapolation(context, 2, method="optical")
    with pytest.raises(ValueError, match="one of LK"):
        forecasters.get("extrapolation", motion="optical")
    with pytest.raises(ValueError, match="forecast method in 'persistence'"):
        forecasters.get("s-prog")
    with pytest.raises(ValueError, match="mm/h"):
        forecasters.get("anvil", transform=RadarTransform("dBZ", 10.0, 70.0))
    with pytest.raises(ValueError, match=r"T >= 4"):
        baselines.anvil(context[-3:], 2)
    with pytest.raises(ValueError, match="mm/h"):
        forecasters.get("linda", transform=RadarTransform("dBZ", 10.0, 70.0))
    with pytest.raises(ValueError, match=r"T >= 3"):
        baselines.linda(context[-2:], 2)
    with pytest.raises(ValueError, match=r"T >= 2"):
        baselines.extrapolation(context[-1:], 2)
    with pytest.raises(ValueError, match="positive int"):
        baselines.persistence(context, 0)
    with pytest.raises(ValueError, match=r"\(T, H, W\)"):
        baselines.persistence(context[0], 2)


def growing_blob(frames, growth=1.5):
    """`moving_blob` whose peak grows by `growth` mm/h a frame."""
    sequence = moving_blob(frames)
    peaks = 20.0 + growth * np.arange(frames)
    return sequence * (peaks / 20.0)[:, None, None].astype(np.float32)


@pytest.mark.parametrize("name", ["sprog", "anvil", "linda"])
def test_sprog_anvil_and_linda_move_the_rain_along(name, blob, capsys):
    context, future = blob
    method = forecasters.get(name, transform=RadarTransform(), motion="LK")
    nowcast = method.forecast(context[None], HORIZON)[0]
    assert nowcast.shape == (HORIZON, SIZE, SIZE)
    assert nowcast.dtype == np.float32
    assert np.all(np.isfinite(nowcast)) and nowcast.min() >= 0.0
    # pysteps' settings and progress stay off the terminal.
    assert capsys.readouterr().out == ""
    # Both advect as extrapolation does: the rain ends up where it went.
    persisted = baselines.persistence(context, HORIZON)
    for lead in (0, HORIZON - 1):
        scores = {}
        for label, forecast in (("ours", nowcast), ("pe", persisted)):
            metric = NowcastScores([1.0], [1], [5])
            metric.update(forecast[None, lead : lead + 1], future[None, lead : lead + 1])
            scores[label] = metric.result()["CSI"][0][0]
        assert scores["ours"] > scores["pe"] + 0.1


def test_anvil_carries_growth_on_and_sprog_does_not():
    sequence = growing_blob(CONTEXT + 2)
    context = sequence[:CONTEXT]
    total = context[-1].sum()
    anvil = baselines.anvil(context, 2)
    sprog = baselines.sprog(context, 2)
    # Growth of 1.5 mm/h a frame on a peak of 24.5 mm/h: about 6 %.
    assert anvil[1].sum() > 1.05 * total
    assert sprog[1].sum() < 1.01 * total


def test_linda_of_a_dry_context_is_dry():
    dry = np.zeros((3, SIZE, SIZE), np.float32)
    np.testing.assert_array_equal(baselines.linda(dry, 2), 0.0)
