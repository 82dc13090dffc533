"""What evaluating a radar model adds: nowcasting scores beside baselines.

Each test batch (the model's [0, 1] values) is turned back into mm/h or
dBZ by the data's transform, the baselines of `[evaluate] baselines`
forecast from the same context (`predrnn_keras.forecasters`), and every
method is scored per lead time and threshold on the pixels inside the
radar's coverage.
"""

import numpy as np

from predrnn_keras import forecasters
from predrnn_keras.data.kinds.base import EvaluationExtras
from predrnn_keras.nowcasting import reports as nowcast_reports
from predrnn_keras.nowcasting.pictures import lagrangian_frames
from predrnn_keras.nowcasting.pictures import nowcast_frames
from predrnn_keras.nowcasting.scores import NowcastScores
from predrnn_keras.plots import save_gif

MODEL_NAME = nowcast_reports.MODEL_NAME


def baseline_names(settings) -> list:
    """The baselines an `[evaluate]` table asks for: `baselines`, less
    extrapolation where `extrapolation = "none"`."""
    names = list(settings["baselines"])
    if settings["extrapolation"] == "none":
        names = [n for n in names if n != "extrapolation"]
    return names


class NowcastEvaluation(EvaluationExtras):
    """Accumulates the scores of the model and the baselines.

    Args:
        reader: the test split's `RadarReader` (its transform, time step and
            coverage).
        settings: the recipe's `[evaluate]` table (`thresholds`,
            `fss_scales`, `baselines`, `extrapolation`).
        horizon: predicted frames.
    """

    key = "nowcast"

    def __init__(self, reader, settings, horizon: int):
        self.transform = reader.transform
        self.timestep = reader.timestep
        self.coverage = reader.coverage
        self.pixel_km = getattr(reader, "pixel_km", None)
        self.frame = getattr(reader, "lagrangian", None)
        self.method = settings["extrapolation"]
        self.lead_minutes = [
            (k + 1) * reader.timestep for k in range(horizon)
        ]
        self.baselines = {
            name: forecasters.get(
                name, transform=self.transform, motion=self.method
            )
            for name in baseline_names(settings)
        }
        self.scores = {
            name: NowcastScores(
                settings["thresholds"], settings["fss_scales"],
                self.lead_minutes,
            )
            for name in [MODEL_NAME, *self.baselines]
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
        horizon = observed.shape[1]
        forecasts = {MODEL_NAME: self.physical(pred)}
        for name, method in self.baselines.items():
            forecasts[name] = method.forecast(context, horizon)
        for name, forecast in forecasts.items():
            self.scores[name].update(forecast, observed)
        return {"context": context, "observed": observed, **forecasts}

    def result(self) -> dict:
        """Settings and each method's `NowcastScores.result()`."""
        return {
            "unit": self.transform.unit,
            "extrapolation_method": self.method,
            "baselines": list(self.baselines),
            "coverage": float(self.coverage.mean()),
            "pixel_km": self.pixel_km,
            "methods": {n: s.result() for n, s in self.scores.items()},
        }

    def save_pictures(self, out_dir, number: int, batch, index: int, fps):
        """`gifs/NNNN_rain.gif`: observed beside each method but persistence
        (the last context frame, shown already); for a model in the
        Lagrangian frame also `gifs/NNNN_lagrangian.gif`, the context
        observed and in that frame."""
        forecasts = {
            name: batch[name][index]
            for name in self.scores
            if name != "persistence"
        }
        frames = nowcast_frames(
            batch["context"][index],
            batch["observed"][index],
            forecasts,
            self.transform.unit,
            self.transform.threshold,
            self.timestep,
            self.coverage,
        )
        save_gif(out_dir / "gifs" / f"{number:04d}_rain.gif", frames, fps)
        if self.frame is not None:
            context = batch["context"][index]
            moved = self.frame.to_lagrangian(
                context, self.frame.motion(context), len(context) - 1
            )
            frames = lagrangian_frames(
                context,
                moved,
                self.transform.unit,
                self.transform.threshold,
                self.timestep,
            )
            path = out_dir / "gifs" / f"{number:04d}_lagrangian.gif"
            save_gif(path, frames, fps)

    def write_reports(self, out_dir, result: dict) -> dict:
        return nowcast_reports.write_nowcast_reports(out_dir, result)

    def describe(self, result: dict, paths: dict) -> str:
        baselines = " and ".join(
            "optical-flow extrapolation "
            f"({result['extrapolation_method']})"
            if name == "extrapolation"
            else name
            for name in result["baselines"]
        )
        plots = ", ".join(str(p) for p in paths["plots"])
        return (
            f"\nNowcasting scores ({result['unit']}, on the "
            f"{result['coverage']:.0%} of pixels the radar covers; "
            f"baselines: {baselines or 'none'}):\n"
            f"{nowcast_reports.format_nowcast(result)}\n"
            f"Nowcasting scores: {paths['csv']}; CSI and FSS plots: {plots}"
        )
