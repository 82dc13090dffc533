"""Probability matching: a forecast's pattern with the observed values.

A forecast trained to minimise a squared error grows smoother with the
lead time, and its heavy rain fades. S-PROG answers this by matching the
distribution of every forecast field to that of the last observed one
(pysteps' `nonparam_match_empirical_cdf`): the forecast keeps the order of
its pixels, which decides where it rains most, and takes the observed
field's values, which decide how much and how widely. Pixels at the
forecast's lowest value keep the observed lowest value (no rain); the rain
area of a matched field is the observed one, or the forecast's where that
is smaller. A model's forecast is ranked by the model's own values
(`forecasters.ModelForecaster`), which still order the pixels that the
inverse transform would call dry.
"""

import numpy as np

from predrnn_keras.nowcasting.extra import require


def match_distribution(forecast, observed) -> np.ndarray:
    """Each forecast field with the values of the observed field.

    Args:
        forecast: `(T, H, W)` forecast fields, in any unit that orders the
            pixels as the forecast does (NaN: no forecast there).
        observed: `(H, W)` the last observed field, in the same unit (NaN:
            no data, counted as the field's lowest value).

    Returns:
        float32 `(T, H, W)`: field `t` holds the observed values, placed in
        the order of the forecast's values; NaN where the forecast is NaN.
    """
    forecast = np.asarray(forecast, np.float64)
    observed = np.asarray(observed, np.float64)
    if forecast.ndim != 3 or forecast.shape[1:] != observed.shape:
        raise ValueError(
            "Expected forecast (T, H, W) and observed (H, W) of the same "
            f"field size. Received: forecast.shape={forecast.shape}, "
            f"observed.shape={observed.shape}"
        )
    probmatching = require("pysteps.postprocessing.probmatching")
    out = np.full(forecast.shape, np.nan, np.float32)
    if np.all(np.isnan(observed)):
        return np.where(np.isnan(forecast), np.nan, forecast).astype(
            np.float32
        )
    for t, field in enumerate(forecast):
        missing = np.isnan(field)
        if missing.all():
            continue
        matched = probmatching.nonparam_match_empirical_cdf(
            np.where(missing, np.nanmin(field), field),
            observed,
        )
        out[t] = np.where(missing, np.nan, matched)
    return out
