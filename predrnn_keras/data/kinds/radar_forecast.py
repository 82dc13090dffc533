"""Forecasts from a folder of radar files, for models of radar recipes.

A model whose recipe has `[data] kind = "radar"` reads a folder of radar
files as its recipe reads its data: the files are found with the recipe's
`pattern` (relative to the folder; with several `sources`, the pattern of
the source that matches most files), read with that source's importer,
options, unit, crop and image size (`predrnn_keras.data.radar.read_radar_file`) and
transformed to the model's [0, 1] values with its `RadarTransform`. The
forecast is turned back into the data's unit (mm/h or dBZ), drawn in
pysteps' rain colours and, when scoring, scored with the nowcasting scores
of `evaluate.py` (`predrnn_keras.nowcasting.scores.NowcastScores`).

The time steps used are consecutive, `timestep` minutes apart: the last
`input_length` of the folder (when scoring: the first `input_length`, then
the `horizon` steps of the truth). A missing one is an error naming its
time.
"""

import dataclasses
import datetime
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.kinds.forecast_source import FORECAST_ARRAY
from predrnn_keras.data.kinds.forecast_source import FORECAST_GIF
from predrnn_keras.data.kinds.forecast_source import ForecastItem
from predrnn_keras.data.kinds.forecast_source import ForecastSource
from predrnn_keras.data.kinds.forecast_source import png_name
from predrnn_keras.data.kinds.forecast_source import refuse_options
from predrnn_keras.data.radar import RadarSettings
from predrnn_keras.data.radar import find_radar_files
from predrnn_keras.data.radar import get_importer
from predrnn_keras.data.radar import radar_settings
from predrnn_keras.data.radar import read_radar_file
from predrnn_keras.nowcasting import reports as nowcast_reports
from predrnn_keras.nowcasting.extra import require
from predrnn_keras.nowcasting.pictures import nowcast_frames
from predrnn_keras.nowcasting.pictures import rain_rgb
from predrnn_keras.nowcasting.scores import NowcastScores
from predrnn_keras.plots import save_gif

MODEL_NAME = nowcast_reports.MODEL_NAME


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


def _too_few(folder, found, pattern, timestep, length, horizon, score):
    needed = length + horizon if score else length
    wanted = (
        f"--score needs {length} context files and {horizon} future ones "
        f"({needed})"
        if score
        else f"the model needs a context of {length} files"
    )
    return DataError(
        folder,
        f"{found} file(s) match the pattern {pattern!r}; {wanted}, "
        f"{timestep} minutes apart",
    )


def _times_used(folder, found, settings, length, needed, score) -> list:
    """The consecutive times the forecast reads, each checked for a file."""
    step = datetime.timedelta(minutes=settings.timestep)
    known = sorted(found)
    first = known[0] if score else known[-1] - (length - 1) * step
    times = [first + k * step for k in range(needed)]
    for moment in times:
        if moment not in found:
            what = "context and truth need" if score else "context needs"
            raise DataError(
                folder,
                f"no file for {moment:%Y-%m-%d %H:%M} (pattern "
                f"{settings.pattern!r}): the {what} {needed} files "
                f"{settings.timestep} minutes apart, from "
                f"{times[0]:%Y-%m-%d %H:%M} to {times[-1]:%Y-%m-%d %H:%M}",
            )
    return times


def _matching_source(folder: Path, settings: RadarSettings):
    """The settings of the recipe's source whose pattern matches most files
    of `folder` (the only one, for a recipe of one source), rooted there,
    and the files it finds."""
    if len(settings.sources) == 1:
        found = find_radar_files(folder, settings.pattern)
        return dataclasses.replace(settings, root=folder, parts=()), found
    best = (None, {})
    for part in settings.sources:
        try:
            found = find_radar_files(folder, part.pattern)
        except DataError:
            continue
        if len(found) > len(best[1]):
            best = (part, found)
    part, found = best
    if part is None:
        patterns = ", ".join(
            f"{p.name}: {p.pattern!r}" for p in settings.sources
        )
        raise DataError(
            folder,
            f"no file matches the pattern of any of the recipe's sources "
            f"({patterns})",
        )
    return dataclasses.replace(part, root=folder, parts=()), found


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

    Raises:
        DataError: no file matches the pattern, fewer files than needed, or
            a time step without a file.
        ValueError: an importer pysteps does not know.
        MissingExtraError: pysteps (or its reader of the format) is not
            installed.
    """
    folder = Path(folder)
    require("pysteps")
    settings, found = _matching_source(folder, radar_settings(data_config))
    get_importer(settings.importer)
    needed = length + horizon if score else length
    if len(found) < needed:
        raise _too_few(
            folder, len(found), settings.pattern, settings.timestep,
            length, horizon, score,
        )
    times = _times_used(folder, found, settings, length, needed, score)
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


class RadarForecastSource(ForecastSource):
    """A folder of radar files as the input of a forecast.

    Args:
        source: the folder.
        recipe: the model's complete recipe (`[data]`, `[evaluate]`).
        request: the `ForecastRequest`.
    """

    def __init__(self, source, recipe, request):
        refuse_options(request, "radar files")
        self.request = request
        self.radar = find_radar_folder(
            source, recipe["data"], request.length, request.horizon,
            request.score,
        )
        self.settings = recipe["evaluate"]
        self.transform = self.radar.settings.transform
        self.timestep = self.radar.settings.timestep
        self.count = 1
        self.summary_fields = {
            "data_kind": "radar",
            "unit": self.transform.unit,
            "timestep_minutes": self.timestep,
        }

    def describe(self, model_name, backend, out_dir) -> str:
        radar, length = self.radar, self.request.length
        return (
            f"Forecasting from the radar files of {radar.folder} (context "
            f"{radar.times[0]:%Y-%m-%d %H:%M} to "
            f"{radar.times[length - 1]:%Y-%m-%d %H:%M}, "
            f"{self.transform.unit}) with {model_name}: {length} context "
            f"frames -> {self.request.horizon} "
            f"({self.request.horizon * self.timestep} min; backend "
            f"{backend}) -> {out_dir}"
        )

    def items(self):
        fields = read_fields(self.radar, self.request.frame_shape)
        length = self.request.length
        truth = fields[length:] if self.request.score else None
        yield ForecastItem(
            name=self.radar.name,
            context=self.transform.forward(fields[:length])[..., None],
            truth=None if truth is None else self.transform.forward(truth)[
                ..., None
            ],
            notes=list(self.radar.notes),
            data={
                "context": fields[:length],
                "truth": truth,
                "coverage": np.isfinite(fields).all(axis=0),
            },
        )

    def write(self, folder, item, forecast) -> dict:
        unit, threshold = self.transform.unit, self.transform.threshold
        coverage = item.data["coverage"]
        fields = self.transform.inverse(forecast[..., 0]).astype(np.float32)
        item.data["forecast"] = fields
        np.save(folder / FORECAST_ARRAY, fields)
        for t, frame in enumerate(fields):
            iio.imwrite(
                folder / png_name(t, len(fields)),
                rain_rgb(frame, unit, threshold, coverage),
            )
        save_gif(
            folder / FORECAST_GIF,
            nowcast_frames(
                item.data["context"], item.data["truth"],
                {MODEL_NAME: fields}, unit, threshold, self.timestep,
                coverage,
            ),
            self.request.fps,
        )
        return self._entry(folder, item, coverage)

    def _entry(self, folder, item, coverage) -> dict:
        radar, length = self.radar, self.request.length
        step = datetime.timedelta(minutes=self.timestep)
        last = radar.times[length - 1]
        return {
            "name": item.name,
            "source": str(radar.folder),
            "pattern": radar.settings.pattern,
            "files_found": radar.found,
            "frames_read": len(radar.times),
            "notes": list(item.notes),
            "unit": self.transform.unit,
            "timestep_minutes": self.timestep,
            "context_times": [radar.times[0].isoformat(), last.isoformat()],
            "forecast_times": [
                (last + (k + 1) * step).isoformat()
                for k in range(self.request.horizon)
            ],
            "coverage": float(coverage.mean()),
            "folder": str(folder),
            "predicted_frames": [length + 1, length + self.request.horizon],
        }

    def scores(self):
        return RadarForecastScores(
            self.settings, self.transform.unit, self.timestep,
            self.request.horizon,
        )

    def closing(self, entries, out_dir) -> str:
        entry = entries[0]
        return (
            f"Forecast to {entry['forecast_times'][-1]} ({entry['unit']}): "
            f"{entry['folder']}/ ({FORECAST_GIF}, {FORECAST_ARRAY}, "
            f"forecast_*.png); summary: {out_dir / 'summary.json'}"
        )


class RadarForecastScores:
    """The nowcasting scores of radar forecasts: each folder's, and pooled
    over the folders.

    Args:
        settings: the recipe's `[evaluate]` table (`thresholds`,
            `fss_scales`).
        unit: the data's unit.
        timestep: minutes between frames.
        horizon: predicted frames.
    """

    key = "nowcast"

    def __init__(self, settings, unit: str, timestep: int, horizon: int):
        self.unit = unit
        self.horizon = horizon
        self.args = (
            list(settings["thresholds"]),
            list(settings["fss_scales"]),
            [(k + 1) * timestep for k in range(horizon)],
        )
        self.pooled = NowcastScores(*self.args)

    def update(self, item, forecast) -> dict:
        """Scores one folder's forecast (its fields from `write`)."""
        observed = np.where(
            item.data["coverage"], item.data["truth"], np.nan
        )[None]
        fields = item.data["forecast"][None]
        own = NowcastScores(*self.args)
        own.update(fields, observed)
        self.pooled.update(fields, observed)
        return {"nowcast": own.result()}

    def result(self) -> dict:
        return {
            "unit": self.unit,
            "methods": {MODEL_NAME: self.pooled.result()},
        }

    def write_reports(self, out_dir, result: dict) -> dict:
        return nowcast_reports.write_nowcast_reports(out_dir, result)

    def describe(self, result: dict, paths: dict) -> str:
        return (
            f"Nowcasting scores ({self.unit}) against the {self.horizon} "
            f"files after the context:\n"
            f"{nowcast_reports.format_nowcast(result)}\n"
            f"Nowcasting scores: {paths['csv']}"
        )
