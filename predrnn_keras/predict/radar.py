"""Forecasts from a folder of radar files, for models of radar recipes.

A model whose recipe has `[data] kind = "radar"` reads a folder of radar
files as its recipe reads its data: the files are found with the recipe's
`pattern` (relative to the folder), read with its importer, options, unit,
crop and image size (`predrnn_keras.data.radar.read_radar_file`) and
transformed to the model's [0, 1] values with its `RadarTransform`. The
forecast is turned back into the data's unit (mm/h or dBZ), drawn in
pysteps' rain colours and, with `score`, scored with the nowcasting scores
of `evaluate.py` (`predrnn_keras.nowcasting.scores.NowcastScores`).

The time steps used are consecutive, `timestep` minutes apart: the last
`input_length` of the folder (with `score`: the first `input_length`, then
the `horizon` steps of the truth). A missing one is an error naming its
time.
"""

import dataclasses
import datetime
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.radar import RadarSettings
from predrnn_keras.data.radar import get_importer
from predrnn_keras.data.radar import find_radar_files
from predrnn_keras.data.radar import radar_settings
from predrnn_keras.data.radar import read_radar_file
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.nowcasting.evaluation import MODEL_NAME
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.pictures import nowcast_frames
from predrnn_keras.nowcasting.pictures import rain_rgb
from predrnn_keras.nowcasting.scores import NowcastScores
from predrnn_keras.plots import save_gif


def is_radar_recipe(recipe: "dict | None") -> bool:
    """Whether a recipe's data are radar files (`[data] kind = "radar"`)."""
    return recipe is not None and recipe["data"].get("kind") == "radar"


@dataclasses.dataclass
class RadarFolder:
    """The files of one folder that a forecast uses, found but not read.

    Attributes:
        name: the name of its outputs (the folder's name).
        folder: the folder.
        settings: the recipe's radar settings, rooted at `folder`.
        times: the time of each file used: the context, then (when scoring)
            the truth.
        paths: the file of each time.
        found: how many files in the folder match the pattern.
        notes: which of the files are used, when not all.
    """

    name: str
    folder: Path
    settings: RadarSettings
    times: list
    paths: list
    found: int
    notes: list = dataclasses.field(default_factory=list)


def find_radar_folder(
    folder, data_config: dict, length: int, horizon: int, score: bool
) -> RadarFolder:
    """The files of `folder` a forecast uses, checked for gaps.

    Args:
        folder: a folder of radar files.
        data_config: the recipe's `[data]` table, of kind "radar".
        length: the model's context length.
        horizon: frames to predict.
        score: take the first `length` time steps as the context and the
            `horizon` after them as the truth, instead of the last
            `length` as the context.

    Returns:
        A `RadarFolder`.

    Raises:
        DataError: no file matches the pattern, fewer files than needed, or
            a time step without a file.
        ValueError: an importer pysteps does not know.
        MissingExtraError: pysteps (or its reader of the format) is not
            installed.
    """
    folder = Path(folder)
    settings = dataclasses.replace(radar_settings(data_config), root=folder)
    require("pysteps")
    get_importer(settings.importer)
    found = find_radar_files(folder, settings.pattern)
    pattern, timestep = settings.pattern, settings.timestep
    needed = length + horizon if score else length
    if len(found) < needed:
        wanted = (
            f"--score needs {length} context files and {horizon} future ones "
            f"({needed})"
            if score
            else f"the model needs a context of {length} files"
        )
        raise DataError(
            folder,
            f"{len(found)} file(s) match the pattern {pattern!r}; {wanted}, "
            f"{timestep} minutes apart",
        )
    step = datetime.timedelta(minutes=timestep)
    known = sorted(found)
    first = known[0] if score else known[-1] - (length - 1) * step
    times = [first + k * step for k in range(needed)]
    for moment in times:
        if moment not in found:
            what = "context and truth need" if score else "context needs"
            raise DataError(
                folder,
                f"no file for {moment:%Y-%m-%d %H:%M} (pattern {pattern!r}): "
                f"the {what} {needed} files {timestep} minutes apart, "
                f"from {times[0]:%Y-%m-%d %H:%M} to "
                f"{times[-1]:%Y-%m-%d %H:%M}",
            )
    notes = []
    if len(found) > needed:
        notes.append(
            f"scored files 1..{needed} of {len(found)}"
            if score
            else f"used its last {length} of {len(found)} files as the context"
        )
    return RadarFolder(
        name=folder.resolve().name or "radar",
        folder=folder,
        settings=settings,
        times=times,
        paths=[found[t] for t in times],
        found=len(found),
        notes=notes,
    )


def read_fields(radar: RadarFolder, frame_shape) -> np.ndarray:
    """The fields of a `RadarFolder`'s files in the data's unit.

    Args:
        radar: what `find_radar_folder` found.
        frame_shape: the model's `(height, width, channels)`.

    Returns:
        float32 `(T, height, width)`, NaN where there is no data.

    Raises:
        DataError: a file the importer cannot read, or a field of another
            size than the model's after the recipe's crop and image size.
    """
    settings = radar.settings
    importer = get_importer(settings.importer)
    height, width = frame_shape[:2]
    fields = []
    for path in radar.paths:
        field = read_radar_file(path, settings, importer)
        if field.shape != (height, width):
            raise DataError(
                path,
                f"field of {field.shape[0]}x{field.shape[1]} pixels after the "
                f"recipe's crop and image_size; the model expects "
                f"{height}x{width}",
            )
        fields.append(field)
    return np.stack(fields)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


class RadarWriter:
    """Forecasts radar folders and writes each one's files.

    Args:
        model: the model, of a radar recipe.
        out_dir: the output folder (opened by the caller).
        horizon: frames to predict.
        score: score against the truth of each folder.
        fps: frames per second of the GIFs.
        evaluate_settings: the recipe's `[evaluate]` table (`thresholds`,
            `fss_scales`).
        timestep: minutes between frames.

    Attributes:
        entries: the summary entry of each folder written.
        metrics: the frame metrics on the model's [0, 1] values (scoring).
        nowcast: the nowcasting scores pooled over the folders (scoring).
    """

    def __init__(
        self, model, out_dir, horizon, score, fps, evaluate_settings, timestep
    ):
        self.model = model
        self.out_dir = Path(out_dir)
        self.horizon = horizon
        self.fps = fps
        self.timestep = timestep
        self.lead_minutes = [(k + 1) * timestep for k in range(horizon)]
        self.thresholds = list(evaluate_settings["thresholds"])
        self.scales = list(evaluate_settings["fss_scales"])
        self.metrics = FrameMetrics() if score else None
        self.nowcast = self._new_scores() if score else None
        self.entries = []

    def _new_scores(self) -> NowcastScores:
        return NowcastScores(self.thresholds, self.scales, self.lead_minutes)

    def write(self, radar: RadarFolder, fields: np.ndarray) -> dict:
        """Forecasts one folder's fields and writes its files.

        Args:
            radar: the folder's files (`find_radar_folder`).
            fields: their fields (`read_fields`): the context, then the
                truth when scoring.

        Returns:
            Its summary entry (also appended to `entries`).
        """
        from predrnn_keras.predict.forecaster import FORECAST_ARRAY
        from predrnn_keras.predict.forecaster import FORECAST_GIF

        transform = radar.settings.transform
        unit, threshold = transform.unit, transform.threshold
        length = self.model.input_length
        context = fields[:length]
        truth = fields[length:] if self.nowcast is not None else None
        coverage = np.isfinite(fields).all(axis=0)
        inputs = transform.forward(context)[..., None]
        pred = self.model.predict_future(
            inputs[None], self.horizon, batch_size=1
        )
        pred = np.clip(np.asarray(pred, np.float32), 0.0, 1.0)[0]
        forecast = transform.inverse(pred[..., 0]).astype(np.float32)

        folder = self.out_dir / radar.name
        folder.mkdir()
        np.save(folder / FORECAST_ARRAY, forecast)
        width = max(2, len(str(len(forecast))))
        for t, frame in enumerate(forecast):
            iio.imwrite(
                folder / f"forecast_{t + 1:0{width}d}.png",
                rain_rgb(frame, unit, threshold, coverage),
            )
        save_gif(
            folder / FORECAST_GIF,
            nowcast_frames(
                context,
                truth,
                {MODEL_NAME: forecast},
                unit,
                threshold,
                self.timestep,
                coverage,
            ),
            self.fps,
        )
        step = datetime.timedelta(minutes=self.timestep)
        last = radar.times[length - 1]
        start = length + 1
        entry = {
            "name": radar.name,
            "source": str(radar.folder),
            "pattern": radar.settings.pattern,
            "files_found": radar.found,
            "frames_read": len(fields),
            "notes": list(radar.notes),
            "unit": unit,
            "timestep_minutes": self.timestep,
            "context_times": [_iso(radar.times[0]), _iso(last)],
            "forecast_times": [
                _iso(last + (k + 1) * step) for k in range(self.horizon)
            ],
            "coverage": float(coverage.mean()),
            "folder": str(folder),
            "predicted_frames": [start, start + self.horizon - 1],
        }
        if truth is not None:
            observed = np.where(coverage, truth, np.nan)[None]
            truth_values = transform.forward(truth)[..., None]
            scores = self.metrics.update(truth_values[None], pred[None])
            entry["scores"] = {
                name: float(np.mean(values)) for name, values in scores.items()
            }
            own = self._new_scores()
            own.update(forecast[None], observed)
            self.nowcast.update(forecast[None], observed)
            entry["nowcast"] = own.result()
        self.entries.append(entry)
        return entry
