"""Forecasting the user's own sequences with a trained model, to files."""

import shutil
import time
from pathlib import Path

import keras
import numpy as np

from predrnn_keras import recipe_config
from predrnn_keras.data import kinds
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.kinds import ForecastRequest
from predrnn_keras.data.kinds import ForecastSource
from predrnn_keras.data.kinds.forecast_source import FORECAST_ARRAY
from predrnn_keras.data.kinds.forecast_source import FORECAST_GIF
from predrnn_keras.data.kinds.forecast_source import PredictError
from predrnn_keras.evaluation import reports
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.predict.frame_source import FrameSource
from predrnn_keras.run_folder import free_output_path
from predrnn_keras.run_folder import load_run_model
from predrnn_keras.run_folder import resolve_target
from predrnn_keras.utils import files

SUMMARY_FILE = "summary.json"
DEFAULT_OUT = Path("predictions")
__all__ = [
    "DEFAULT_OUT",
    "FORECAST_ARRAY",
    "FORECAST_GIF",
    "SUMMARY_FILE",
    "PredictError",
    "check_out_dir",
    "forecast",
    "load_model",
    "load_model_and_recipe",
    "open_source",
]


def load_model(model, which: str = "best", recipe=None):
    """The model to forecast with, its name and the horizon it was trained
    for.

    Args:
        model: a built `PredRNN` / `PredRNNV2`, a `.keras` file, a run
            folder, or the name of a shipped model.
        which: "best" or "last" model of a run folder.
        recipe: the model's recipe (a TOML file, or a complete recipe as
            `recipe_config.load_recipe` returns it) instead of its run
            folder's or shipped model's; needed for a `.keras` file outside
            a run folder to read radar files.

    Returns:
        `(model, name, horizon)`: the horizon is the recipe's
        `train.total_length - model.input_length` where a recipe is known
        (a run folder, a shipped model, `recipe`), else
        `model.input_length`.
    """
    return load_model_and_recipe(model, which, recipe)[:3]


def load_model_and_recipe(model, which: str = "best", recipe=None):
    """`load_model`'s `(model, name, horizon)`, and the model's recipe (None
    where none is known)."""
    recipe_path = None
    if isinstance(model, keras.Model):
        loaded, name = model, type(model).__name__
    else:
        path, recipe_path, run_dir = resolve_target(
            model, which=which, require_recipe=False
        )
        loaded, _ = load_run_model(path, run_dir, which, compile=False)
        name = str(model)
    if recipe is None and recipe_path is not None:
        recipe = recipe_config.load_recipe(recipe_path)
    elif recipe is not None and not isinstance(recipe, dict):
        recipe = recipe_config.load_recipe(recipe)
    horizon = loaded.input_length
    if recipe is not None:
        horizon = recipe["train"]["total_length"] - loaded.input_length
    return loaded, name, max(1, horizon), recipe


def check_out_dir(out_dir, overwrite: bool) -> Path:
    """The output folder to use, checked but not yet touched:
    `predictions`, `predictions-2`, ... by default; a given folder must be
    new or empty, or (with `overwrite`) an earlier forecast's folder.

    Raises:
        PredictError: the folder holds files and `overwrite` is not set, or
            it holds files that are not a forecast's.
    """
    if out_dir is None:
        return free_output_path(DEFAULT_OUT)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise PredictError(f"{out_dir} is a file; expected an output folder.")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            what = (
                "holds an interrupted forecast (its "
                f"{files.INCOMPLETE_FILE} file)"
                if files.is_incomplete(out_dir)
                else "exists and is not empty"
            )
            raise PredictError(
                f"{out_dir} {what}; pass --overwrite to replace it, or "
                "choose another --out."
            )
        if not (
            (out_dir / SUMMARY_FILE).is_file() or files.is_incomplete(out_dir)
        ):
            raise PredictError(
                f"{out_dir} holds files that are not a forecast (no "
                f"{SUMMARY_FILE}); not deleting them. Choose another --out."
            )
    return out_dir


def _open_out_dir(out_dir: Path) -> None:
    """Empties an earlier forecast's folder (checked by `check_out_dir`) or
    creates the folder: done once the first forecast is ready, so that an
    input refused at once leaves everything as it was."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files.mark_incomplete(out_dir)


def open_source(source, recipe, request) -> ForecastSource:
    """The `ForecastSource` of `source`: the one the model's data kind reads
    (radar: a folder of radar files), else frames, videos and arrays."""
    own = None
    if recipe is not None:
        own = kinds.kind_of(recipe["data"]).forecast_source(
            source, recipe, request
        )
    return own if own is not None else FrameSource(source, request)


def forecast(
    model,
    source,
    out_dir=None,
    horizon: "int | None" = None,
    score: bool = False,
    fit: "str | None" = None,
    convert_channels: bool = False,
    value_range=None,
    key: "str | None" = None,
    batch_size: int = 8,
    which: str = "best",
    overwrite: bool = False,
    fps: float = 4.0,
    verbose: int = 1,
    recipe=None,
) -> dict:
    """Forecasts every sequence of `source` and writes the results.

    Without `score` the model sees the last `input_length` frames of each
    sequence and predicts the `horizon` frames after them. With `score` the
    first `input_length` frames are the context and the next `horizon`
    frames the truth the forecast is scored against (the metrics of
    `evaluate.py`, docs/evaluation.md).

    Per sequence, in `out_dir/<name>/`: `forecast_01.png ...` (8-bit),
    `forecast.gif` (context then forecast, beside the truth when scoring)
    and `forecast.npy` (float32 `(horizon, H, W, C)`, in the input's units:
    the value range the frames were read in). For the run:
    `summary.json`, and with `score` the reports `metrics.json`,
    `metrics_per_frame.csv` and `.png`.

    A data kind may read inputs of its own (`DataKind.forecast_source`).
    For a model whose recipe has `[data] kind = "radar"`, a folder is a
    folder of radar files, read as the recipe reads its data: one sequence
    of the time steps the forecast needs, forecast in the data's unit (mm/h
    or dBZ): `forecast.npy` is float32 `(horizon, H, W)` in that unit, the
    PNGs and the GIF are in pysteps' rain colours, `summary.json` holds the
    context's and the forecast's times and, with `score`, the nowcasting
    scores at the recipe's `[evaluate]` thresholds and FSS scales besides
    the frame metrics.

    Args:
        model: a built model, a `.keras` file, a run folder or a shipped
            model's name.
        source: a video, GIF, folder of frames, .npy / .npz array, or a
            folder of these (`predict.inputs`).
        out_dir: the output folder (default `predictions`, `-2`, ...).
        horizon: frames to predict (default: what the model trained for).
        score: score the forecast against the frames that follow the
            context in the input.
        fit: None, "resize" or "crop": what to do with frames of another
            size than the model's.
        convert_channels: convert grey <-> RGB when the channel count
            differs from the model's.
        value_range: raw `(low, high)` mapped to 0 and 1 (default: from the
            dtype).
        key: the array of .npz files that hold several.
        batch_size: sequences per forward pass.
        which: "best" or "last" model of a run folder.
        overwrite: replace an earlier forecast in `out_dir`.
        fps: frames per second of the GIFs.
        verbose: 1 for a progress bar and messages.
        recipe: the model's recipe, for a `.keras` file outside a run
            folder (a TOML file or a complete recipe; see `load_model`).

    Returns:
        The summary (as written to `summary.json`).

    Raises:
        DataError: an input that cannot be read or fitted to the model.
        PredictError: an output folder that cannot be used, or options that
            do not apply to the inputs of the model's data kind.
        MissingExtraError: radar files without the radar extra installed.
    """
    started = time.time()
    model, model_name, default_horizon, recipe = load_model_and_recipe(
        model, which, recipe
    )
    horizon = default_horizon if horizon is None else int(horizon)
    if horizon < 1:
        raise PredictError(f"Expected a horizon >= 1. Received: {horizon}")
    options = {
        "--fit": fit,
        "--convert-channels": convert_channels,
        "--value-range": value_range,
        "--key": key,
    }
    request = ForecastRequest(
        model.input_length, horizon, score, model.frame_shape, fps, options
    )
    inputs = open_source(source, recipe, request)
    out_dir = check_out_dir(out_dir, overwrite)
    if verbose:
        print(inputs.describe(model_name, keras.backend.backend(), out_dir))
    predictor = model
    if recipe is not None:
        kind = kinds.kind_of(recipe["data"])
        predictor = kind.predictor(model, recipe["data"])
    run = _Run(predictor, inputs, out_dir, request, verbose)
    run.forecast_all(batch_size)
    if not run.entries:
        raise DataError(source, "holds no sequence (an array of 0 sequences)")
    summary = {
        "model": model_name,
        "model_class": type(model).__name__,
        "backend": keras.backend.backend(),
        "source": str(source),
        **inputs.summary_fields,
        "context_length": model.input_length,
        "horizon": horizon,
        "frame_shape": list(model.frame_shape),
        "num_sequences": len(run.entries),
        "sequences": run.entries,
        "seconds": round(time.time() - started, 1),
    }
    if score:
        run.write_scores(summary, model_name)
    files.write_json(out_dir / SUMMARY_FILE, summary)
    files.mark_complete(out_dir)
    if verbose:
        _print_notes(run.entries)
        print(inputs.closing(run.entries, out_dir))
    return summary


class _Run:
    """Predicts the items of a source in batches; writes and scores each.

    `model` is the kind's predictor (`DataKind.predictor`): the model, or
    what predicts in its place.
    """

    def __init__(self, model, inputs, out_dir: Path, request, verbose):
        self.model = model
        self.inputs = inputs
        self.out_dir = out_dir
        self.request = request
        self.progress = keras.utils.Progbar(inputs.count) if verbose else None
        self.verbose = verbose
        self.metrics = FrameMetrics() if request.score else None
        self.extra = inputs.scores() if request.score else None
        self.entries = []

    def forecast_all(self, batch_size: int) -> None:
        pending = []
        for item in self.inputs.items():
            pending.append(item)
            if len(pending) == batch_size:
                self._write_batch(pending)
                pending = []
        if pending:
            self._write_batch(pending)

    def _write_batch(self, items: list) -> None:
        if not self.entries:
            _open_out_dir(self.out_dir)
        contexts = np.stack([item.context for item in items])
        pred = self.model.predict_future(
            contexts, self.request.horizon, batch_size=len(items)
        )
        pred = np.clip(np.asarray(pred, np.float32), 0.0, 1.0)
        for item, forecast in zip(items, pred):
            folder = self.out_dir / item.name
            folder.mkdir()
            entry = self.inputs.write(folder, item, forecast)
            if self.metrics is not None:
                scores = self.metrics.update(item.truth[None], forecast[None])
                entry["scores"] = {
                    name: float(np.mean(values))
                    for name, values in scores.items()
                }
            if self.extra is not None:
                entry.update(self.extra.update(item, forecast))
            self.entries.append(entry)
        if self.progress is not None:
            self.progress.add(len(items))

    def write_scores(self, summary: dict, model_name: str) -> None:
        """The reports of a scored forecast; the scores go into `summary`."""
        length, horizon = self.model.input_length, self.request.horizon
        results = {
            **self.metrics.result(),
            "frames": list(range(length + 1, length + horizon + 1)),
        }
        summary["scores"] = {
            "mean": results["mean"],
            "per_frame": results["per_frame"],
        }
        if self.extra is not None:
            results[self.extra.key] = self.extra.result()
            summary[self.extra.key] = results[self.extra.key]
        paths = reports.write_reports(
            self.out_dir, {**results, "model": model_name, "horizon": horizon}
        )
        if self.extra is not None:
            extra_paths = self.extra.write_reports(
                self.out_dir, results[self.extra.key]
            )
        if not self.verbose:
            return
        if self.extra is not None:
            print(self.extra.describe(results[self.extra.key], extra_paths))
        print(reports.format_table(results))
        mean = results["mean"]
        print(
            "MSE per frame (sum over pixels): "
            f"{mean['mse_frame_sum']:.2f}; SSIM {mean['ssim_8bit']:.3f}; "
            f"PSNR {mean['psnr_8bit']:.2f} dB; reports: {paths['json']}"
        )


def _print_notes(entries: list, most: int = 10) -> None:
    """What was done to the sequences, one line each (the first `most`)."""
    noted = [e for e in entries if e["notes"]]
    for entry in noted[:most]:
        print(f"{entry['name']}: {'; '.join(entry['notes'])}")
    if len(noted) > most:
        print(f"... and {len(noted) - most} more (summary.json)")
