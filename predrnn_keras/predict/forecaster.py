"""Forecasting the user's own sequences with a trained model, to files."""

import shutil
import time
from pathlib import Path

import imageio.v3 as iio
import keras
import numpy as np

from predrnn_keras import recipe_config
from predrnn_keras.data.data_error import DataError
from predrnn_keras.evaluation import reports
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.plots import comparison_frames
from predrnn_keras.plots import save_gif
from predrnn_keras.plots import to_grey_or_rgb_uint8
from predrnn_keras.predict.inputs import Conversion
from predrnn_keras.predict.inputs import find_sources
from predrnn_keras.predict.inputs import fit_frames
from predrnn_keras.predict.inputs import read_sequences
from predrnn_keras.run_folder import free_output_path
from predrnn_keras.run_folder import resolve_target
from predrnn_keras.utils import files

SUMMARY_FILE = "summary.json"
FORECAST_ARRAY = "forecast.npy"
FORECAST_GIF = "forecast.gif"
DEFAULT_OUT = Path("predictions")


class PredictError(ValueError):
    """An output folder or option that cannot be used as asked."""


def load_model(model, which: str = "best", recipe=None):
    """The model to forecast with, its name and the horizon it was trained
    for.

    Args:
        model: a built `PredRNN` / `PredRNNV2`, a `.keras` file, a run
            folder, or the name of a shipped model.
        which: "best" or "last" model of a run folder.
        recipe: the model's recipe (a TOML file, or a complete recipe as
            `recipe_config.load_recipe` returns it) instead of its run folder's or
            shipped model's; needed for a `.keras` file outside a run
            folder to read radar files.

    Returns:
        `(model, name, horizon)`: the horizon is the recipe's
        `train.total_length - model.input_length` where a recipe is known
        (a run folder, a shipped model, `recipe`), else
        `model.input_length`.
    """
    return _load(model, which, recipe)[:3]


def _load(model, which: str = "best", recipe=None):
    """`load_model`'s `(model, name, horizon)` and the recipe, or None."""
    import predrnn_keras.models  # noqa: F401 (registers the classes)

    recipe_path = None
    if isinstance(model, keras.Model):
        loaded, name = model, type(model).__name__
    else:
        path, recipe_path, _ = resolve_target(
            model, which=which, require_recipe=False
        )
        loaded = keras.saving.load_model(path, compile=False)
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
            raise PredictError(
                f"{out_dir} exists and is not empty; pass --overwrite to "
                "replace it, or choose another --out."
            )
        if not (out_dir / SUMMARY_FILE).is_file():
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


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


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

    For a model whose recipe has `[data] kind = "radar"`, a folder is a
    folder of radar files, read as the recipe reads its data
    (`predict.radar`): one sequence of the time steps the forecast needs,
    forecast in the data's unit (mm/h or dBZ): `forecast.npy` is float32
    `(horizon, H, W)` in that unit, the PNGs and the GIF are in pysteps'
    rain colours, `summary.json` holds the context's and the forecast's
    times and, with `score`, the nowcasting scores at the recipe's
    `[evaluate]` thresholds and FSS scales besides the frame metrics.

    Per sequence, in `out_dir/<name>/`: `forecast_01.png ...` (8-bit),
    `forecast.gif` (context then forecast, beside the truth when scoring)
    and `forecast.npy` (float32 `(horizon, H, W, C)`, in the input's units:
    the value range the frames were read in). For the run:
    `summary.json`, and with `score` the reports `metrics.json`,
    `metrics_per_frame.csv` and `.png`.

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
            do not apply to radar files.
        MissingExtraError: radar files without the radar extra installed.
    """
    started = time.time()
    model, model_name, default_horizon, recipe = _load(model, which, recipe)
    horizon = default_horizon if horizon is None else int(horizon)
    if horizon < 1:
        raise PredictError(f"Expected a horizon >= 1. Received: {horizon}")
    if (
        recipe is not None
        and recipe["data"].get("kind") == "radar"
        and Path(source).is_dir()
    ):
        _check_radar_options(fit, convert_channels, value_range, key)
        return _forecast_radar(
            model, model_name, recipe, source, out_dir, horizon, score,
            overwrite, fps, verbose, started,
        )
    conversion = Conversion(
        fit=fit,
        channels=convert_channels,
        value_range=None if value_range is None else tuple(value_range),
    )
    sources = find_sources(source, key)
    out_dir = check_out_dir(out_dir, overwrite)
    total = sum(s.count for s in sources)
    if verbose:
        print(
            f"Forecasting {total} sequence(s) of {source} with {model_name}: "
            f"{model.input_length} context frames -> {horizon} "
            f"(backend {keras.backend.backend()}) -> {out_dir}"
        )
    progress = keras.utils.Progbar(total) if verbose else None
    writer = _Writer(model, out_dir, horizon, score, fps)
    taken = set()
    pending = []
    length = model.input_length
    keep = ("first", length + horizon) if score else ("last", length)
    for src in sources:
        for sequence in read_sequences(src, key, keep):
            sequence.name = _unique(sequence.name, taken)
            _check_length(sequence, length, horizon, score)
            frames, value_range_used = fit_frames(
                sequence, model.frame_shape, conversion
            )
            context, truth = frames[:length], frames[length:] if score else None
            pending.append((sequence, context, truth, value_range_used))
            if len(pending) == batch_size:
                writer.write_batch(pending)
                pending = []
                if progress is not None:
                    progress.add(batch_size)
    if pending:
        writer.write_batch(pending)
        if progress is not None:
            progress.add(len(pending))
    if not writer.entries:
        raise DataError(source, "holds no sequence (an array of 0 sequences)")
    summary = _summary(model, model_name, source, horizon, writer, started)
    if score:
        results = _frame_scores(model, horizon, writer, summary)
        paths = reports.write_reports(
            out_dir, {**results, "model": model_name, "horizon": horizon}
        )
        if verbose:
            print(reports.format_table(results))
            print(
                "MSE per frame (sum over pixels): "
                f"{results['mean']['mse_frame_sum']:.2f}; SSIM "
                f"{results['mean']['ssim_8bit']:.3f}; PSNR "
                f"{results['mean']['psnr_8bit']:.2f} dB; reports: "
                f"{paths['json']}"
            )
    files.write_json(out_dir / SUMMARY_FILE, summary)
    if verbose:
        _print_notes(writer.entries)
        print(
            f"Forecasts of {len(writer.entries)} sequence(s): {out_dir}/NAME/ "
            f"({FORECAST_GIF}, {FORECAST_ARRAY}, forecast_*.png); summary: "
            f"{out_dir / SUMMARY_FILE}"
        )
    return summary


def _summary(model, model_name, source, horizon, writer, started, **extra):
    """The summary.json of a forecast run, before its scores."""
    return {
        "model": model_name,
        "model_class": type(model).__name__,
        "backend": keras.backend.backend(),
        "source": str(source),
        **extra,
        "context_length": model.input_length,
        "horizon": horizon,
        "frame_shape": list(model.frame_shape),
        "num_sequences": len(writer.entries),
        "sequences": writer.entries,
        "seconds": round(time.time() - started, 1),
    }


def _frame_scores(model, horizon: int, writer, summary: dict) -> dict:
    """The frame metrics of every scored sequence, also put in `summary`."""
    results = {
        **writer.metrics.result(),
        "frames": list(
            range(model.input_length + 1, model.input_length + horizon + 1)
        ),
    }
    summary["scores"] = {
        "mean": results["mean"],
        "per_frame": results["per_frame"],
    }
    return results


def _check_radar_options(fit, convert_channels, value_range, key) -> None:
    """Refuses the options of frames and arrays for radar files."""
    given = [
        name
        for name, value in (
            ("--fit", fit),
            ("--convert-channels", convert_channels),
            ("--value-range", value_range),
            ("--key", key),
        )
        if value
    ]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise PredictError(
            f"{', '.join(given)} {verb} not apply to radar files: the "
            "recipe's [data] table says how they are read."
        )


def _forecast_radar(
    model, model_name, recipe, source, out_dir, horizon, score, overwrite,
    fps, verbose, started,
) -> dict:
    """`forecast` of a folder of radar files (`predict.radar`)."""
    from predrnn_keras.nowcasting import evaluation as nowcasting
    from predrnn_keras.predict import radar as radar_input

    radar = radar_input.find_radar_folder(
        source, recipe["data"], model.input_length, horizon, score
    )
    out_dir = check_out_dir(out_dir, overwrite)
    timestep = radar.settings.timestep
    if verbose:
        print(
            f"Forecasting from the radar files of {source} (context "
            f"{radar.times[0]:%Y-%m-%d %H:%M} to "
            f"{radar.times[model.input_length - 1]:%Y-%m-%d %H:%M}, "
            f"{radar.settings.unit}) with {model_name}: "
            f"{model.input_length} context frames -> {horizon} "
            f"({horizon * timestep} min; backend {keras.backend.backend()}) "
            f"-> {out_dir}"
        )
    fields = radar_input.read_fields(radar, model.frame_shape)
    writer = radar_input.RadarWriter(
        model, out_dir, horizon, score, fps, recipe["evaluate"], timestep
    )
    _open_out_dir(out_dir)
    writer.write(radar, fields)
    summary = _summary(
        model,
        model_name,
        source,
        horizon,
        writer,
        started,
        data_kind="radar",
        unit=radar.settings.unit,
        timestep_minutes=timestep,
    )
    if score:
        results = _frame_scores(model, horizon, writer, summary)
        results["nowcast"] = {
            "unit": radar.settings.unit,
            "methods": {nowcasting.MODEL_NAME: writer.nowcast.result()},
        }
        summary["nowcast"] = results["nowcast"]
        paths = reports.write_reports(
            out_dir, {**results, "model": model_name, "horizon": horizon}
        )
        nowcast_paths = nowcasting.write_nowcast_reports(
            out_dir, results["nowcast"]
        )
        if verbose:
            print(
                f"Nowcasting scores ({radar.settings.unit}) against the "
                f"{horizon} files after the context:"
            )
            print(nowcasting.format_nowcast(results["nowcast"]))
            print(
                f"Nowcasting scores: {nowcast_paths['csv']}; frame metrics: "
                f"{paths['json']}"
            )
    files.write_json(out_dir / SUMMARY_FILE, summary)
    if verbose:
        _print_notes(writer.entries)
        entry = writer.entries[0]
        print(
            f"Forecast to {entry['forecast_times'][-1]} "
            f"({entry['unit']}): {entry['folder']}/ ({FORECAST_GIF}, "
            f"{FORECAST_ARRAY}, forecast_*.png); summary: "
            f"{out_dir / SUMMARY_FILE}"
        )
    return summary


def _print_notes(entries: list, most: int = 10) -> None:
    """What was done to the sequences, one line each (the first `most`)."""
    noted = [e for e in entries if e["notes"]]
    for entry in noted[:most]:
        print(f"{entry['name']}: {'; '.join(entry['notes'])}")
    if len(noted) > most:
        print(f"... and {len(noted) - most} more (summary.json)")


def _check_length(sequence, length: int, horizon: int, score: bool) -> None:
    """Refuses a sequence too short for the forecast; notes which of its
    frames are used."""
    have = sequence.length
    if score:
        needed = length + horizon
        if have < needed:
            raise DataError(
                sequence.source,
                f"{sequence.name}: {have} frames; --score needs {length} "
                f"context frames and {horizon} future ones ({needed})",
            )
        if have > needed:
            sequence.notes.append(f"scored frames 1..{needed} of {have}")
        return
    if have < length:
        raise DataError(
            sequence.source,
            f"{sequence.name}: {have} frames; the model needs a context of "
            f"{length} frames",
        )
    if have > length:
        sequence.notes.append(
            f"used its last {length} of {have} frames as the context"
        )


class _Writer:
    """Predicts batches of sequences and writes each one's files."""

    def __init__(self, model, out_dir: Path, horizon: int, score, fps):
        self.model = model
        self.out_dir = out_dir
        self.horizon = horizon
        self.fps = fps
        self.metrics = FrameMetrics() if score else None
        self.entries = []

    def write_batch(self, pending: list) -> None:
        if not self.entries:
            _open_out_dir(self.out_dir)
        contexts = np.stack([context for _, context, _, _ in pending])
        pred = self.model.predict_future(
            contexts, self.horizon, batch_size=len(pending)
        )
        pred = np.clip(pred, 0.0, 1.0)
        for (sequence, context, truth, value_range), forecast in zip(
            pending, pred
        ):
            self.entries.append(
                self._write_one(sequence, context, truth, forecast, value_range)
            )

    def _write_one(self, sequence, context, truth, forecast, value_range):
        folder = self.out_dir / sequence.name
        folder.mkdir()
        low, high = value_range
        np.save(
            folder / FORECAST_ARRAY,
            (forecast * (high - low) + low).astype(np.float32),
        )
        start = self.model.input_length + 1
        width = max(2, len(str(len(forecast))))
        for t, frame in enumerate(forecast):
            iio.imwrite(
                folder / f"forecast_{t + 1:0{width}d}.png",
                to_grey_or_rgb_uint8(frame),
            )
        save_gif(
            folder / FORECAST_GIF,
            comparison_frames(context, truth, forecast),
            self.fps,
        )
        entry = {
            "name": sequence.name,
            "source": str(sequence.source),
            "frames_read": int(sequence.length),
            "notes": list(sequence.notes),
            "value_range": [low, high],
            "folder": str(folder),
            "predicted_frames": [start, start + len(forecast) - 1],
        }
        if self.metrics is not None:
            scores = self.metrics.update(truth[None], forecast[None])
            entry["scores"] = {
                name: float(np.mean(values)) for name, values in scores.items()
            }
        return entry
