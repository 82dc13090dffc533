"""Nowcasting scores of a radar model beside persistence and extrapolation.

`evaluate.py` uses `NowcastEvaluation` for recipes of data kind "radar":
each test batch (the model's [0, 1] values) is turned back into mm/h or
dBZ by the data's transform, the baselines are computed from the same
context, and every method is scored per lead time and threshold on the
pixels inside the radar's coverage.
"""

import imageio.v3 as iio
import numpy as np

from predrnn_keras.nowcasting import baselines
from predrnn_keras.nowcasting import scores as nowcast_scores
from predrnn_keras.nowcasting.pictures import nowcast_frames
from predrnn_keras.plots import save_gif
from predrnn_keras.utils import files

MODEL_NAME = "PredRNN"


class NowcastEvaluation:
    """Accumulates the scores of the model and the baselines.

    Args:
        reader: the test split's `RadarReader` (its transform, time step and
            coverage).
        settings: the recipe's `[evaluate]` table (`thresholds`,
            `fss_scales`, `extrapolation`).
        horizon: predicted frames.
    """

    def __init__(self, reader, settings: dict, horizon: int):
        self.transform = reader.transform
        self.timestep = reader.timestep
        self.coverage = reader.coverage
        self.method = settings["extrapolation"]
        self.lead_minutes = [
            (k + 1) * reader.timestep for k in range(horizon)
        ]
        names = [MODEL_NAME, "persistence"]
        if self.method != "none":
            names.append("extrapolation")
        self.scores = {
            name: nowcast_scores.NowcastScores(
                settings["thresholds"], settings["fss_scales"],
                self.lead_minutes,
            )
            for name in names
        }

    def physical(self, frames: np.ndarray) -> np.ndarray:
        """(B, T, H, W, 1) model values -> (B, T, H, W) in the data's unit."""
        return self.transform.inverse(np.asarray(frames)[..., 0])

    def update(self, context, truth, pred) -> dict:
        """Scores one batch; returns each method's forecasts in physical
        units, with the observed context and future, for pictures."""
        observed = self.physical(truth)
        observed[:, :, ~self.coverage] = np.nan
        context = self.physical(context)
        forecasts = {MODEL_NAME: self.physical(pred)}
        horizon = observed.shape[1]
        forecasts["persistence"] = np.repeat(context[:, -1:], horizon, axis=1)
        if self.method != "none":
            forecasts["extrapolation"] = np.stack(
                [
                    baselines.extrapolation(
                        sequence, horizon, self.method, self.transform
                    )
                    for sequence in context
                ]
            )
        for name, forecast in forecasts.items():
            self.scores[name].update(forecast, observed)
        return {"context": context, "observed": observed, **forecasts}

    def result(self) -> dict:
        """Settings and each method's `NowcastScores.result()`."""
        return {
            "unit": self.transform.unit,
            "extrapolation_method": self.method,
            "coverage": float(self.coverage.mean()),
            "methods": {n: s.result() for n, s in self.scores.items()},
        }

    def save_gif(self, path, fields: dict, index: int, fps: float) -> None:
        """Observed vs each method for sequence `index` of a batch."""
        forecasts = {
            name: fields[name][index]
            for name in self.scores
            if name != "persistence"
        }
        frames = nowcast_frames(
            fields["context"][index],
            fields["observed"][index],
            forecasts,
            self.transform.unit,
            self.transform.threshold,
            self.timestep,
            self.coverage,
        )
        save_gif(path, frames, fps)


def write_nowcast_reports(out_dir, nowcast: dict) -> dict:
    """nowcast_scores.csv, a CSI plot per threshold; returns their paths.

    (The scores are in metrics.json too, under "nowcast".)
    """
    methods = nowcast["methods"]
    paths = {"csv": out_dir / "nowcast_scores.csv", "plots": []}
    files.write_text(paths["csv"], nowcast_scores.scores_csv(methods))
    first = next(iter(methods.values()))
    for i, threshold in enumerate(first["thresholds"]):
        path = out_dir / f"csi_{threshold:g}.png"
        iio.imwrite(
            path, nowcast_scores.csi_plot(methods, i, nowcast["unit"])
        )
        paths["plots"].append(path)
    return paths


def format_nowcast(nowcast: dict) -> str:
    """Every threshold's score table, for the console."""
    return nowcast_scores.format_all_tables(
        nowcast["methods"], nowcast["unit"]
    )
