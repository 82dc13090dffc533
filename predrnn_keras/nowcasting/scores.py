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
"""

import csv
import io
import math

import numpy as np

from predrnn_keras.nowcasting.extra import require

CATEGORICAL_SCORES = ("CSI", "POD", "FAR", "HSS", "ETS")
TABLE_WIDTH = 110  # characters; score blocks wrap beyond it


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


def _check_same_axes(results_by_method: dict):
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


def _format_value(value: float) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.3f}"


def format_scores_table(
    results_by_method: dict,
    threshold_index: int = 0,
    unit: str = "mm/h",
    width: int = TABLE_WIDTH,
) -> str:
    """Plain text table of every method's scores at one threshold.

    One row per lead time (minutes). Each score (CSI, POD, FAR, HSS, ETS,
    then the FSS at the middle scale, `scales[len(scales) // 2]`) is a
    block of columns, one per method, so
    the methods of a score stand side by side; blocks that do not fit in
    `width` characters wrap to a new band below, which repeats the lead
    column.

    Args:
        results_by_method: method name -> `NowcastScores.result()`; all must
            share lead times, thresholds and scales.
        threshold_index: which threshold.
        unit: unit of the thresholds, for the title.
        width: the widest line, in characters (a band holds at least one
            score block).

    Returns:
        The table, lines joined by newlines, with a trailing newline.
    """
    first = _check_same_axes(results_by_method)
    thresholds = first["thresholds"]
    if not -len(thresholds) <= threshold_index < len(thresholds):
        raise ValueError(
            f"Expected threshold_index in [0, {len(thresholds)}). "
            f"Received: threshold_index={threshold_index}"
        )
    scale_index = len(first["scales"]) // 2
    scale = first["scales"][scale_index]
    methods = list(results_by_method)
    widths = [max(len(m), 6) for m in methods]
    blocks = [
        (
            name,
            [
                [
                    r[name][lead][threshold_index]
                    for lead in range(len(first["lead_minutes"]))
                ]
                for r in results_by_method.values()
            ],
        )
        for name in CATEGORICAL_SCORES
    ]
    blocks.append(
        (
            f"FSS {scale} px",
            [
                [
                    r["FSS"][lead][threshold_index][scale_index]
                    for lead in range(len(first["lead_minutes"]))
                ]
                for r in results_by_method.values()
            ],
        )
    )
    leads = [f"{m:g}" for m in first["lead_minutes"]]
    lead_width = max(5, *(len(s) for s in leads))
    block_width = sum(widths) + len(widths) - 1
    separator = " | "

    lines = [
        f"Scores at >= {thresholds[threshold_index]:g} {unit} "
        f"(FSS at scale {scale} px), {first['forecasts']} forecasts"
    ]
    bands, band = [], []
    for block in blocks:
        used = lead_width + len(band) * (len(separator) + block_width)
        if band and used + len(separator) + block_width > width:
            bands.append(band)
            band = []
        band.append(block)
    bands.append(band)
    for band in bands:
        lines.append("")
        lines.append(
            "lead ".rjust(lead_width)
            + "".join(
                separator + name.center(block_width) for name, _ in band
            ).rstrip()
        )
        method_header = " ".join(m.rjust(w) for m, w in zip(methods, widths))
        lines.append(
            "(min)".rjust(lead_width) + (separator + method_header) * len(band)
        )
        for i, lead in enumerate(leads):
            lines.append(
                lead.rjust(lead_width)
                + "".join(
                    separator
                    + " ".join(
                        _format_value(values[i]).rjust(w)
                        for values, w in zip(per_method, widths)
                    )
                    for _, per_method in band
                )
            )
    return "\n".join(lines) + "\n"


def format_all_tables(results_by_method: dict, unit: str = "mm/h") -> str:
    """`format_scores_table` for every threshold, one after another."""
    first = _check_same_axes(results_by_method)
    return "\n".join(
        format_scores_table(results_by_method, i, unit)
        for i in range(len(first["thresholds"]))
    )


def scores_csv(results_by_method: dict) -> str:
    """Every score of every method as long-format CSV.

    Columns `method,lead_minutes,threshold,score,scale,value`: one row per
    method, lead time, threshold and score, and for the FSS per scale too
    (`scale` is empty for the categorical scores). NaN is written "nan".
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["method", "lead_minutes", "threshold", "score", "scale", "value"]
    )
    for method, result in results_by_method.items():
        for i, lead in enumerate(result["lead_minutes"]):
            for j, threshold in enumerate(result["thresholds"]):
                for name in CATEGORICAL_SCORES:
                    writer.writerow(
                        [method, lead, threshold, name, "", result[name][i][j]]
                    )
                for k, scale in enumerate(result["scales"]):
                    writer.writerow(
                        [
                            method,
                            lead,
                            threshold,
                            "FSS",
                            scale,
                            result["FSS"][i][j][k],
                        ]
                    )
    return buffer.getvalue()


def csi_plot(
    results_by_method: dict, threshold_index: int = 0, unit: str = "mm/h"
) -> np.ndarray:
    """CSI against lead time, one line per method, at one threshold.

    Args:
        results_by_method: method name -> `NowcastScores.result()`.
        threshold_index: which threshold.
        unit: unit of the thresholds, for the title.

    Returns:
        uint8 RGB picture of 480 x 320 pixels.
    """
    from predrnn_keras.plots import new_figure
    from predrnn_keras.plots import render

    first = _check_same_axes(results_by_method)
    threshold = first["thresholds"][threshold_index]
    figure = new_figure(480, 320, layout="constrained")
    ax = figure.subplots()
    for i, (method, result) in enumerate(results_by_method.items()):
        csi = np.array([row[threshold_index] for row in result["CSI"]])
        ax.plot(
            result["lead_minutes"],
            np.where(np.isfinite(csi), csi, np.nan),
            "o-",
            color=f"C{i}",
            ms=3,
            label=method,
        )
    ax.set_title(f"CSI at >= {threshold:g} {unit}", fontsize=9)
    ax.set_xlabel("lead time (min)", fontsize=8)
    ax.set_ylabel("CSI", fontsize=8)
    ax.set_ylim(0.0, 1.0)
    ax.tick_params(labelsize=7)
    # Ticks on the lead times themselves, at most about eight of them.
    leads = first["lead_minutes"]
    step = max(1, math.ceil(len(leads) / 8))
    ax.set_xticks(leads[step - 1 :: step])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return render(figure)[..., :3]
