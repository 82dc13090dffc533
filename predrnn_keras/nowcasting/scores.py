"""Nowcasting skill scores per lead time and threshold, through pysteps.

`NowcastScores` accumulates, over many forecasts, a contingency table per
lead time and threshold (`pysteps.verification.detcatscores`) and the sums
of the fractions skill score per lead time, threshold and scale
(`pysteps.verification.spatialscores`); `result()` turns them into the
categorical scores CSI, POD, FAR, HSS and ETS and the FSS. Scores are
computed from tables pooled over all forecasts, not averaged per forecast.

Conventions:

- An event is a value >= threshold, for every score, as `RadarTransform`
  counts rain. pysteps' FSS uses >= itself; its contingency table counts
  value > threshold, so the table is given the next float64 below each
  threshold (values are compared in float64), which counts value >=
  threshold exactly.
- No-data pixels (NaN in the observation, or non-finite values in the
  forecast) are left out. The contingency tables count only the pixels
  where both fields are finite (pysteps itself would count a NaN as a
  non-event). For the FSS, the no-data mask is shared by both fields and
  pysteps counts masked pixels as below the threshold in both, as it counts
  the pixels beyond the edge of the domain: a masked pixel is never a
  forecast or observed event, but it still enters the sums with the
  fractions of its neighbourhood.
- The fractions are means of the binary fields over a square window of
  `scale` x `scale` pixels (`scipy.ndimage.uniform_filter`), with the
  domain padded by non-events (mode "constant", cval 0): near the edges the
  window counts the pixels outside as dry. FSS = 1 - sum((Pf - Po)^2) /
  (sum Pf^2 + sum Po^2), summed over all pixels and forecasts.
- A score whose formula divides by zero (no observed or forecast events at
  a threshold) is NaN.

`tables` shows the results of several methods as console tables and CSV,
`score_plots` draws them.
"""

import math

import numpy as np

from predrnn_keras.nowcasting.extra import require

__all__ = [
    "CATEGORICAL_SCORES",
    "NowcastScores",
    "check_same_axes",
]

CATEGORICAL_SCORES = ("CSI", "POD", "FAR", "HSS", "ETS")
def _plain(value):
    """A number as a plain Python int (when whole) or float."""
    value = float(value)
    return int(value) if value.is_integer() else value


class NowcastScores:
    """Categorical scores and FSS of nowcasts, accumulated over forecasts.

    Args:
        thresholds: event thresholds in the fields' unit (mm/h or dBZ),
            increasing; an event is a value >= threshold.
        scales: FSS window sizes in pixels (positive ints).
        lead_minutes: the lead time of each forecast step, in minutes; its
            length is the number of lead times of every forecast.

    Example:
        >>> scores = NowcastScores([1.0, 5.0], [1, 5, 11], [5, 10, 15])
        >>> scores.update(forecast, observed)  # (batch, 3, H, W) each
        >>> scores.result()["CSI"]  # [[CSI at 1, at 5 mm/h] per lead]
    """

    def __init__(self, thresholds, scales, lead_minutes):
        thresholds = [float(t) for t in np.atleast_1d(thresholds)]
        if not thresholds or not all(map(math.isfinite, thresholds)):
            raise ValueError(
                "Expected at least one finite threshold. "
                f"Received: thresholds={thresholds}"
            )
        if any(b <= a for a, b in zip(thresholds, thresholds[1:])):
            raise ValueError(
                "Expected strictly increasing thresholds. "
                f"Received: thresholds={thresholds}"
            )
        scales = list(np.atleast_1d(scales))
        if not scales or not all(
            isinstance(s, (int, np.integer))
            and not isinstance(s, bool)
            and s > 0
            for s in scales
        ):
            raise ValueError(
                "Expected scales to be positive ints (pixels). "
                f"Received: scales={scales}"
            )
        lead_minutes = [_plain(m) for m in np.atleast_1d(lead_minutes)]
        if not lead_minutes:
            raise ValueError(
                "Expected at least one lead time. "
                f"Received: lead_minutes={lead_minutes}"
            )
        self.thresholds = thresholds
        self.scales = [int(s) for s in scales]
        self.lead_minutes = lead_minutes
        self.forecasts = 0
        detcat = require("pysteps.verification.detcatscores")
        spatial = require("pysteps.verification.spatialscores")
        # pysteps' table counts value > thr: one float64 below the threshold
        # counts value >= threshold.
        self._tables = [
            [
                detcat.det_cat_fct_init(float(np.nextafter(t, -np.inf)))
                for t in thresholds
            ]
            for _ in lead_minutes
        ]
        for row in self._tables:
            for table in row:  # zero counts, so that result() works at once
                detcat.det_cat_fct_accum(table, np.empty(0), np.empty(0))
        self._fss = [
            [[spatial.fss_init(t, s) for s in self.scales] for t in thresholds]
            for _ in lead_minutes
        ]

    def update(self, forecast, observed):
        """Adds a batch of forecasts and their observations.

        Args:
            forecast: `(batch, lead, H, W)` in the unit of the thresholds;
                non-finite pixels are left out.
            observed: the same shape; NaN marks no-data pixels, left out.
        """
        forecast = np.asarray(forecast, np.float64)
        observed = np.asarray(observed, np.float64)
        if forecast.shape != observed.shape or forecast.ndim != 4:
            raise ValueError(
                "Expected forecast and observed of the same shape "
                "(batch, lead, H, W). Received: "
                f"forecast.shape={forecast.shape}, "
                f"observed.shape={observed.shape}"
            )
        if forecast.shape[1] != len(self.lead_minutes):
            raise ValueError(
                f"Expected {len(self.lead_minutes)} lead times, as "
                f"lead_minutes={self.lead_minutes}. Received: "
                f"forecast.shape={forecast.shape}"
            )
        detcat = require("pysteps.verification.detcatscores")
        spatial = require("pysteps.verification.spatialscores")
        valid = np.isfinite(forecast) & np.isfinite(observed)
        # Both fields NaN where either is: pysteps' FSS counts them dry.
        forecast_fss = np.where(valid, forecast, np.nan)
        observed_fss = np.where(valid, observed, np.nan)
        for lead in range(forecast.shape[1]):
            mask = valid[:, lead]
            pred = forecast[:, lead][mask]
            obs = observed[:, lead][mask]
            for table in self._tables[lead]:
                detcat.det_cat_fct_accum(table, pred, obs)
            for row in self._fss[lead]:
                for fss in row:
                    for i in range(forecast.shape[0]):
                        spatial.fss_accum(
                            fss, forecast_fss[i, lead], observed_fss[i, lead]
                        )
        self.forecasts += forecast.shape[0]

    def counts(self) -> dict:
        """The contingency tables so far, as ints.

        Returns:
            `{"hits": [[per threshold] per lead], "misses": ...,
            "false_alarms": ..., "correct_negatives": ...}`.
        """
        return {
            key: [[int(table[key]) for table in row] for row in self._tables]
            for key in ("hits", "misses", "false_alarms", "correct_negatives")
        }

    def result(self) -> dict:
        """The scores so far, as plain Python floats (NaN where undefined).

        Returns:
            `{"lead_minutes": [...], "thresholds": [...], "scales": [...],
            "CSI": [[per threshold] per lead], ... (each of
            `CATEGORICAL_SCORES`), "FSS": [[[per scale] per threshold] per
            lead], "forecasts": count}`.
        """
        detcat = require("pysteps.verification.detcatscores")
        spatial = require("pysteps.verification.spatialscores")
        out = {
            "lead_minutes": list(self.lead_minutes),
            "thresholds": list(self.thresholds),
            "scales": list(self.scales),
        }
        with np.errstate(divide="ignore", invalid="ignore"):
            computed = [
                [
                    detcat.det_cat_fct_compute(table, list(CATEGORICAL_SCORES))
                    for table in row
                ]
                for row in self._tables
            ]
            fss = [
                [
                    [
                        float(spatial.fss_compute(f))
                        if f["sum_fct_sq"] + f["sum_obs_sq"] > 0
                        else math.nan
                        for f in row
                    ]
                    for row in lead
                ]
                for lead in self._fss
            ]
        for name in CATEGORICAL_SCORES:
            out[name] = [
                [float(scores[name]) for scores in row] for row in computed
            ]
        out["FSS"] = fss
        out["forecasts"] = self.forecasts
        return out


def check_same_axes(results_by_method: dict) -> dict:
    """The first of several `NowcastScores.result()`s, checked to share lead
    times, thresholds and scales with the others.

    Raises:
        ValueError: no results, or results on different axes.
    """
    if not results_by_method:
        raise ValueError("Expected results of at least one method.")
    first_name, first = next(iter(results_by_method.items()))
    for name, result in results_by_method.items():
        for key in ("lead_minutes", "thresholds", "scales"):
            if list(result[key]) != list(first[key]):
                raise ValueError(
                    f"Expected every method to share {key}. Received: "
                    f"{first_name}: {first[key]}, {name}: {result[key]}"
                )
    return first
