"""Probability matching (`nowcasting.matching`, `[data]
probability_matching = "cdf"`): a forecast field takes the observed
field's values in the order of its own, and a model's forecast is matched
after the Lagrangian frame gives it back."""

import numpy as np
import pytest

pytest.importorskip("pysteps")

from predrnn_keras import forecasters  # noqa: E402
from predrnn_keras.data import radar  # noqa: E402
from predrnn_keras.data.kinds import radar as radar_kind  # noqa: E402
from predrnn_keras.nowcasting.lagrangian import LagrangianFrame  # noqa: E402
from predrnn_keras.nowcasting.matching import match_distribution  # noqa: E402
from predrnn_keras.nowcasting.transform import RadarTransform  # noqa: E402
from tests.test_data_radar import one_line_error  # noqa: E402
from tests.test_lagrangian import SIZE  # noqa: E402
from tests.test_lagrangian import growing_blob  # noqa: E402
from tests.test_lagrangian import lagrangian_config  # noqa: E402
from tests.test_lagrangian import no_default_cache  # noqa: E402, F401


def test_a_wet_forecast_takes_the_observed_values_in_its_own_order():
    rng = np.random.default_rng(0)
    observed = rng.gamma(0.8, 3.0, size=(16, 16))
    forecast = rng.random((2, 16, 16)) + 0.5  # wet everywhere, smooth values
    matched = match_distribution(forecast, observed)
    assert matched.dtype == np.float32 and matched.shape == (2, 16, 16)
    for field, result in zip(forecast, matched):
        # The observed values, exactly, in the forecast's order.
        np.testing.assert_allclose(
            np.sort(result.ravel()), np.sort(observed.ravel()), rtol=1e-6
        )
        order = np.argsort(field.ravel())
        assert np.all(np.diff(result.ravel()[order]) >= 0)


def test_a_dry_forecast_pixel_stays_dry_and_nan_stays_nan():
    observed = np.arange(16, dtype=np.float64).reshape(4, 4)  # 15 wet pixels
    forecast = np.zeros((1, 4, 4))
    forecast[0, :2] = [[4, 3, 2, 1], [8, 7, 6, 5]]  # 8 wet, in this order
    forecast[0, 3, 3] = np.nan
    matched = match_distribution(forecast, observed)[0]
    assert np.isnan(matched[3, 3])
    assert np.all(matched[2:][~np.isnan(matched[2:])] == 0)
    # The 8 wet pixels take the 8 largest observed values, rank for rank.
    np.testing.assert_array_equal(
        matched[:2], [[11, 10, 9, 8], [15, 14, 13, 12]]
    )


def test_mismatched_shapes_are_one_line_errors():
    one_line_error(
        ValueError, match_distribution, np.zeros((2, 4, 4)), np.zeros((4, 5)),
        match="observed.shape=",
    )


class _Decay:
    """A model that takes a tenth off its last input value at every step
    (in the model's [0, 1] values, dB): a forecast that fades."""

    input_length = 4
    patch_size = 1

    def predict_future(self, inputs, horizon, batch_size=None):
        last = np.asarray(inputs)[:, -1:]
        return np.concatenate(
            [last * 0.9 ** (k + 1) for k in range(horizon)], axis=1
        )


def blob_context() -> np.ndarray:
    context = np.stack([growing_blob(i) for i in range(4)])[None]
    context[context < 0.1] = 0.0
    return context.astype(np.float32)


def test_matching_restores_what_a_fading_forecast_loses():
    transform = RadarTransform()
    context = blob_context()
    frame = LagrangianFrame(transform, "constant")
    faded = forecasters.ModelForecaster(_Decay(), transform, frame=frame)
    matched = forecasters.ModelForecaster(
        _Decay(), transform, frame=frame, probability_matching="cdf"
    )
    raw = faded.forecast(context, 3)
    out = matched.forecast(context, 3)
    last = context[0, -1]
    assert raw[0, -1].max() < 0.5 * last.max()
    assert (raw[0, -1] > 0).sum() < (last > 0).sum()
    for lead in range(3):
        wet = out[0, lead] > 0
        raining = raw[0, lead] > 0
        # The rain area comes back (ranked by the model's values, which go
        # on below the threshold), up to the observed one; the values are
        # the observed field's largest, in the order of the forecast's.
        assert raining.sum() <= wet.sum() <= (last > 0).sum()
        assert np.all(wet[raining])
        np.testing.assert_allclose(
            np.sort(out[0, lead][wet]),
            np.sort(last.ravel())[-wet.sum():],
            rtol=1e-6,
        )
        order = np.argsort(raw[0, lead][raining])
        assert np.all(np.diff(out[0, lead][raining][order]) >= 0)
    assert (out[0, -1] > 0).sum() > (raw[0, -1] > 0).sum()
    assert out[0, -1].max() == pytest.approx(last.max(), rel=1e-6)


def test_predictor_matches_when_the_recipe_asks(tmp_path):
    config = lagrangian_config(tmp_path)
    kind = radar_kind.RadarKind()
    model = _Decay()
    eulerian = {**config, "frame": "eulerian"}
    assert kind.predictor(model, eulerian) is model
    predictor = kind.predictor(
        model, {**eulerian, "probability_matching": "cdf"}
    )
    assert predictor.probability_matching == "cdf"
    assert predictor.frame is None
    values = RadarTransform().forward(blob_context())[..., None]
    pred = predictor.predict_future(values, 2, batch_size=1)
    # Matched to the last field, the faded forecast keeps its peak value.
    assert pred[0, -1].max() == pytest.approx(values[0, -1].max(), rel=1e-5)
    assert (
        kind.predictor(model, {**config, "probability_matching": "cdf"}).frame
        is not None
    )


def test_bad_matching_is_a_one_line_error(tmp_path):
    config = {**lagrangian_config(tmp_path), "probability_matching": "mean"}
    one_line_error(
        ValueError, radar.radar_settings, config, match="probability_matching"
    )
    with pytest.raises(ValueError, match="probability_matching"):
        forecasters.ModelForecaster(
            _Decay(), RadarTransform(), probability_matching="quantile"
        )
