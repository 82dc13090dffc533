"""Scoring a trained model on a test split, with pictures and reports."""

import math
import time
from pathlib import Path

import imageio.v3 as iio
import keras
import numpy as np
from keras import ops

from predrnn_keras import recipe_config
from predrnn_keras.data import build_dataset
from predrnn_keras.data import kinds
from predrnn_keras.data import make_reader
from predrnn_keras.evaluation import reports
from predrnn_keras.metrics import FrameMetrics
from predrnn_keras.plots import comparison_frames
from predrnn_keras.plots import save_gif
from predrnn_keras.plots import sequence_grid
from predrnn_keras.plots import to_grey_or_rgb_uint8
from predrnn_keras.run_folder import default_evaluation_dir
from predrnn_keras.run_folder import evaluation_log_dir
from predrnn_keras.run_folder import load_run_model
from predrnn_keras.run_folder import new_output_dir
from predrnn_keras.run_folder import resolve_target
from predrnn_keras.utils import files

GRID_SEQUENCES = 4


class EvaluationError(ValueError):
    """An output folder that cannot be used as asked."""


def save_sequence(out_dir: Path, index: int, context, truth, pred, fps):
    """PNG frames like the reference (gt1..gtT, pd{c+1}..pdT) and a GIF."""
    folder = out_dir / "frames" / f"{index:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    true_frames = np.concatenate([context, truth])
    for t, frame in enumerate(true_frames):
        iio.imwrite(folder / f"gt{t + 1}.png", to_grey_or_rgb_uint8(frame))
    for t, frame in enumerate(pred):
        iio.imwrite(
            folder / f"pd{len(context) + t + 1}.png",
            to_grey_or_rgb_uint8(frame),
        )
    gif_dir = out_dir / "gifs"
    gif_dir.mkdir(exist_ok=True)
    save_gif(
        gif_dir / f"{index:04d}.gif",
        comparison_frames(context, truth, pred),
        fps,
    )


def evaluate_model(
    model,
    recipe: dict,
    out_dir,
    log_dir=None,
    model_name: str = "",
    verbose: int = 1,
) -> dict:
    """Scores `model` on the recipe's test split and writes the reports.

    The model sees `model.input_length` true frames and predicts
    `evaluate.horizon` frames (which may exceed the training horizon); the
    test sequences are read with `input_length + horizon` frames. The data
    kind may add scores and pictures of its own (radar: the nowcasting
    scores beside the baselines, `DataKind.evaluation_extras`).

    Args:
        model: a built `PredRNN` / `PredRNNV2`.
        recipe: a complete recipe (`[data]` and `[evaluate]` are used).
        out_dir: an existing, empty folder for the outputs.
        log_dir: TensorBoard folder (default `out_dir/logs`).
        model_name: how the model is named in the reports.
        verbose: 1 for a progress bar and the table.

    Returns:
        The results: `frames` (the 1-based numbers of the predicted frames),
        `per_frame` and `mean` of every score, `count` and the settings,
        and the kind's extras under their key.
    """
    out_dir = Path(out_dir)
    settings = recipe["evaluate"]
    horizon = settings["horizon"]
    total_length = model.input_length + horizon
    reader = make_reader(
        recipe["data"], "test", total_length, recipe["train"]["seed"]
    )
    dataset = build_dataset(
        recipe["data"],
        "test",
        batch_size=settings["batch_size"],
        total_length=total_length,
        patch_size=model.patch_size,
        seed=recipe["train"]["seed"],
        reader=reader,
    )
    extras = kinds.kind_of(recipe["data"]).evaluation_extras(
        reader, settings, horizon
    )
    predictor = kinds.kind_of(recipe["data"]).predictor(model, recipe["data"])
    started = time.time()
    scoring = _score_test_split(
        predictor, dataset, settings, out_dir, extras, verbose
    )
    results = _results(model, recipe, model_name, scoring["metrics"])
    if extras is not None:
        results[extras.key] = extras.result()
    results["seconds"] = round(time.time() - started, 1)
    paths = reports.write_reports(out_dir, results)
    if extras is not None:
        paths[extras.key] = extras.write_reports(out_dir, results[extras.key])
    grid = _write_grid(out_dir, scoring["grid_parts"])
    reports.write_tensorboard(
        log_dir or evaluation_log_dir(out_dir),
        results,
        max(results["model_iteration"], 0),
        grid,
    )
    if verbose:
        saved = min(settings["save_sequences"], results["num_sequences"])
        _print_summary(results, paths, out_dir, saved, extras)
    return results


def _batches(dataset, settings: dict):
    """The test batches, cut at `evaluate.num_sequences`, and their count."""
    limit = settings["num_sequences"] or None
    count = int(dataset.cardinality())
    if limit:
        count = min(count, math.ceil(limit / settings["batch_size"]))

    def batches():
        seen = 0
        for batch in dataset.as_numpy_iterator():
            if limit and seen >= limit:
                return
            if limit:
                batch = batch[: limit - seen]
            yield seen, batch
            seen += len(batch)

    return batches(), count


def _score_test_split(model, dataset, settings, out_dir, extras, verbose):
    """Predicts every test batch, scores it, saves the first sequences.

    `model` is the kind's predictor (`DataKind.predictor`): the model, or
    what predicts in its place.

    Returns:
        `{"metrics": FrameMetrics, "grid_parts": [(context, truth, pred)]}`.
    """
    length, horizon = model.input_length, settings["horizon"]
    batches, count = _batches(dataset, settings)
    progress = (
        keras.utils.Progbar(count if count > 0 else None) if verbose else None
    )
    metrics = FrameMetrics()
    grid_parts = []
    for step, (seen, batch) in enumerate(batches):
        context, truth = batch[:, :length], batch[:, length:]
        pred = model.predict_future(context, horizon, batch_size=len(batch))
        pred = np.clip(pred, 0.0, 1.0)
        metrics.update(truth, pred)
        extra = extras.update(context, truth, pred) if extras else None
        for i in range(min(len(batch), settings["save_sequences"] - seen)):
            number, fps = seen + i + 1, settings["gif_fps"]
            save_sequence(out_dir, number, context[i], truth[i], pred[i], fps)
            if extras is not None:
                extras.save_pictures(out_dir, number, extra, i, fps)
        if sum(len(p[0]) for p in grid_parts) < GRID_SEQUENCES:
            grid_parts.append((context, truth, pred))
        if progress is not None:
            progress.update(step + 1)
    return {"metrics": metrics, "grid_parts": grid_parts}


def _results(model, recipe, model_name, metrics) -> dict:
    """The frame metrics of an evaluation, with its settings."""
    result = metrics.result()
    length, horizon = model.input_length, recipe["evaluate"]["horizon"]
    return {
        "model": model_name,
        "model_iteration": int(ops.convert_to_numpy(model.sampling_step)),
        "backend": keras.backend.backend(),
        "data": recipe["data"],
        "context_length": length,
        "horizon": horizon,
        "num_sequences": result["count"],
        "frames": list(range(length + 1, length + horizon + 1)),
        "mean": result["mean"],
        "per_frame": result["per_frame"],
    }


def _write_grid(out_dir: Path, grid_parts: list):
    """predictions_grid.png of the first sequences; returns the image."""
    if not grid_parts:
        return None
    parts = [np.concatenate(p)[:GRID_SEQUENCES] for p in zip(*grid_parts)]
    grid = sequence_grid(*parts)
    iio.imwrite(out_dir / "predictions_grid.png", grid)
    return grid


def _print_summary(results, paths, out_dir: Path, saved: int, extras):
    """The console's view of an evaluation: table, means and files."""
    mean = results["mean"]
    print(
        f"\n{results['model'] or 'model'} (iteration "
        f"{results['model_iteration']}), {results['num_sequences']} test "
        f"sequences, {results['context_length']} -> {results['horizon']} "
        "frames:"
    )
    print(reports.format_table(results))
    print(
        f"MSE per frame (sum over pixels, the papers' number): "
        f"{mean['mse_frame_sum']:.2f}; per pixel "
        f"{mean['mse_pixel_mean']:.5f}; SSIM {mean['ssim_8bit']:.3f}; PSNR "
        f"{mean['psnr_8bit']:.2f} dB"
    )
    print(f"Reports: {paths['json']}, {paths['csv']}, {paths['plot']}")
    if extras is not None:
        print(extras.describe(results[extras.key], paths[extras.key]))
    if saved:
        print(
            f"Frames of {saved} sequences: {out_dir / 'frames'} "
            f"(gt*.png, pd*.png); GIFs: {out_dir / 'gifs'}"
        )


def evaluate(
    target,
    recipe_path=None,
    overrides=(),
    out_dir=None,
    which: str = "best",
    verbose: int = 1,
):
    """Loads a run folder or `.keras` file and evaluates it.

    Args:
        target: run folder or `.keras` file.
        recipe_path: recipe for a `.keras` file outside a run folder (or to
            evaluate on other data).
        overrides: `section.key=value` strings, e.g. `evaluate.horizon=20`.
        out_dir: output folder (default: `evaluation` in the run folder, or
            next to the `.keras` file; `-2`, `-3`, ... if it exists).
        which: "best" or "last" model of a run folder.
        verbose: 1 for progress and the table.

    Returns:
        `(results, out_dir, model, recipe)`.

    Raises:
        RunFolderError: no model or no recipe (`run_folder.resolve_target`).
        EvaluationError: `out_dir` exists and is not empty.
    """
    model_path, recipe_source, run_dir = resolve_target(
        target, recipe_path, which
    )
    recipe = recipe_config.load_recipe(recipe_source, overrides)
    model, model_path = load_run_model(model_path, run_dir, which)
    if out_dir is None:
        out_dir = new_output_dir(default_evaluation_dir(model_path, run_dir))
    else:
        out_dir = Path(out_dir)
        if out_dir.exists() and any(out_dir.iterdir()):
            what = (
                " (an interrupted evaluation: its "
                f"{files.INCOMPLETE_FILE} file)"
                if files.is_incomplete(out_dir)
                else ""
            )
            raise EvaluationError(
                f"{out_dir} exists and is not empty{what}; choose another "
                "--out."
            )
        out_dir.mkdir(parents=True, exist_ok=True)
    log_dir = evaluation_log_dir(out_dir, run_dir)
    if verbose:
        print(f"Evaluating {model_path} -> {out_dir}")
    files.mark_incomplete(out_dir)
    results = evaluate_model(
        model,
        recipe,
        out_dir,
        log_dir=log_dir,
        model_name=str(model_path),
        verbose=verbose,
    )
    files.mark_complete(out_dir)
    if verbose:
        print(f"TensorBoard: tensorboard --logdir {log_dir.parent}")
    return results, out_dir, model, recipe
