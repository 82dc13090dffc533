"""`predrnn-package` (`python -m predrnn_keras.cli.package`): makes a shipped
model from a trained run.

    predrnn-package runs/RUN --name NAME --recipe recipes/RECIPE.toml
    predrnn-package runs/RUN --name NAME --curve curve.json --overwrite
    predrnn-package runs/RUN --name NAME --model last --with-optimizer \
        --also-test speed_3.6 data.speed=3.6

Writes `predrnn_keras/pretrained/NAME/` (see `predrnn_keras.pretrained`):
the run's best model (or last, `--model last`), the run's recipe, and a
manifest with how it was trained (from the run's state.json), its test
metrics (measured here, on the recipe's test split) and the sha256 of the
model file. The model is saved without its optimizer state unless
`--with-optimizer` is given: with it, `train.py RECIPE --init-from NAME
--continue` goes on from the shipped model exactly as its run would have
(the file is then about three times larger). `--also-test NAME
KEY=VALUE...` scores it on the test split of the recipe with those
overrides too (e.g. other dynamics), under `other_tests` in the manifest.
`--curve` adds the test MSE at several points of training, as
`benchmarks/pretrained_quality.py --checkpoints RUN_FOLDER --json FILE`
writes it. An existing model of that name is replaced only with
`--overwrite`.
"""

import argparse
import datetime
import json
import shutil
import sys
import tempfile
from pathlib import Path

from predrnn_keras.cli import add_backend_argument
from predrnn_keras.cli import add_which_argument
from predrnn_keras.cli import start

# Test scores copied into the manifest.
MANIFEST_SCORES = ("mse_frame_sum", "mse_pixel_mean", "ssim_8bit", "psnr_8bit")


def nowcast_summary(nowcast: dict) -> dict:
    """The manifest's view of a radar evaluation's nowcasting scores: CSI
    per lead time and threshold, and FSS at 5 pixels, of every method."""
    methods = nowcast["methods"]
    first = next(iter(methods.values()))
    scales = first["scales"]
    summary = {
        "unit": nowcast["unit"],
        "lead_minutes": first["lead_minutes"],
        "thresholds": first["thresholds"],
    }
    for name, scores in methods.items():
        summary[name] = {
            "CSI": [[round(v, 4) for v in row] for row in scores["CSI"]],
        }
        if 5 in scales:
            at = scales.index(5)
            summary[name]["FSS_5px"] = [
                [round(v[at], 4) for v in row] for row in scores["FSS"]
            ]
    return summary


def test_summary(results: dict) -> dict:
    """The manifest's view of an evaluation's results."""
    return {
        "num_sequences": results["num_sequences"],
        "context_length": results["context_length"],
        "horizon": results["horizon"],
        **{name: round(results["mean"][name], 6) for name in MANIFEST_SCORES},
        "mse_frame_sum_per_frame": [
            round(v, 3) for v in results["per_frame"]["mse_frame_sum"]
        ],
    }


def package(
    run_dir,
    name: str,
    description: str = "",
    source_recipe: str = "",
    curve=None,
    which: str = "best",
    destination=None,
    overwrite: bool = False,
    verbose: int = 1,
    with_optimizer: bool = False,
    also_test=None,
) -> Path:
    """Packages the model of a run folder as the shipped model `name`.

    Args:
        run_dir: a run folder with a finished (or stopped) run.
        name: the model's name (a folder name).
        description: one sentence for the manifest.
        source_recipe: the repository's recipe that retrains it.
        curve: a JSON file of `benchmarks/pretrained_quality.py
            --checkpoints`, or None.
        which: "best" or "last" model of the run.
        destination: the folder of shipped models (default: this package).
        overwrite: replace an existing model of that name.
        verbose: 1 to print the evaluation.
        with_optimizer: ship the model file as the run saved it, with the
            optimizer state that `--continue` needs.
        also_test: `{name: [override, ...]}`: test sets scored beside the
            recipe's, each the recipe's test split with `--set` overrides.

    Returns:
        The new model's folder.
    """
    import keras

    from predrnn_keras import pretrained
    from predrnn_keras import recipe_config
    from predrnn_keras.evaluation import evaluate_model
    from predrnn_keras.hardware import describe_machine
    from predrnn_keras.run_folder import RunFolder
    from predrnn_keras.run_folder import RunFolderError
    from predrnn_keras.training.initial_model import has_optimizer_state
    from predrnn_keras.utils import files

    run = RunFolder(run_dir)
    if not run.is_run_folder():
        raise RunFolderError(f"{run_dir} is not a run folder.")
    state = run.read_state() or {}
    model_file = run.model_path(which)
    if model_file is None:
        raise RunFolderError(f"{run_dir} holds no model yet.")
    destination = Path(destination or pretrained.PRETRAINED_DIR) / name
    if destination.exists() and not overwrite:
        raise FileExistsError(
            f"{destination} exists; pass --overwrite to replace it."
        )
    recipe = run.read_recipe()
    other_recipes = {
        test: recipe_config.with_overrides(recipe, overrides)
        for test, overrides in (also_test or {}).items()
    }
    model = keras.saving.load_model(model_file, compile=with_optimizer)
    if with_optimizer and not has_optimizer_state(model, model_file):
        raise RunFolderError(
            f"{model_file} was saved without its optimizer state; "
            "--with-optimizer needs a checkpoint (--model last)."
        )

    def score(scored_recipe):
        scored = {
            **scored_recipe,
            "evaluate": {**scored_recipe["evaluate"], "save_sequences": 0},
        }
        with tempfile.TemporaryDirectory() as scratch:
            return evaluate_model(
                model, scored, scratch, model_name=name, verbose=verbose
            )

    results = score(recipe)
    other_tests = {
        test: {"overrides": list(also_test[test]),
               **test_summary(score(other))}
        for test, other in other_recipes.items()
    }
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=destination.parent))
    staging.chmod(0o755)  # package data, readable by all like the rest
    try:
        if with_optimizer:
            shutil.copyfile(model_file, staging / pretrained.MODEL_FILE)
        else:
            files.save_model(model, staging / pretrained.MODEL_FILE)
        shutil.copyfile(run.recipe_path, staging / pretrained.RECIPE_FILE)
        model_bytes = (staging / pretrained.MODEL_FILE).stat().st_size
        manifest = {
            "name": name,
            "description": description,
            "class": type(model).__name__,
            "frame_shape": list(model.frame_shape),
            "input_length": model.input_length,
            "retrain": f"python train.py {source_recipe}" if source_recipe
            else "",
            "recipe": source_recipe,
            "iterations": state.get("iteration"),
            "model_iteration": results["model_iteration"],
            "backend": state.get("backend", keras.backend.backend()),
            "precision": recipe["train"]["precision"],
            "training_seconds": state.get("train_seconds"),
            "hardware": state.get("hardware") or describe_machine(),
            "optimizer_state": with_optimizer,
            "test": test_summary(results),
            **({"other_tests": other_tests} if other_tests else {}),
            **_radar_fields(results),
            "training_curve": _read_curve(curve),
            "keras_version": keras.__version__,
            "created": datetime.date.today().isoformat(),
            "file": pretrained.MODEL_FILE,
            "bytes": model_bytes,
            "sha256": pretrained.sha256(staging / pretrained.MODEL_FILE),
        }
        files.write_json(staging / pretrained.MANIFEST_FILE, manifest)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return destination


def _radar_fields(results: dict) -> dict:
    """A radar model's pixel size (which `pysteps_nowcast.forecast` uses to
    resample other grids) and nowcasting scores."""
    if "nowcast" not in results:
        return {}
    return {
        "pixel_km": results["nowcast"].get("pixel_km"),
        "nowcast": nowcast_summary(results["nowcast"]),
    }


def _read_curve(path) -> list:
    if path is None:
        return []
    with open(path) as f:
        return json.load(f)["checkpoints"]


def main(argv=None):
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", help="the trained run folder")
    parser.add_argument("--name", required=True, help="the model's name")
    parser.add_argument("--description", default="")
    parser.add_argument(
        "--recipe", default="", help="the repository's recipe that retrains it"
    )
    parser.add_argument("--curve", help="JSON of pretrained_quality.py")
    add_which_argument(parser, "--model")
    parser.add_argument(
        "--with-optimizer", action="store_true",
        help="ship the optimizer state too, so that train.py --init-from "
        "NAME --continue goes on from it (use with --model last)",
    )
    parser.add_argument(
        "--also-test", nargs="+", action="append", default=[],
        metavar=("NAME", "KEY=VALUE"),
        help="also score on the test split with these recipe overrides, "
        "under other_tests.NAME in the manifest (repeatable)",
    )
    parser.add_argument("--destination", help="default: the package")
    parser.add_argument("--overwrite", action="store_true")
    add_backend_argument(parser)
    args = parser.parse_args(argv)
    start(args.backend)
    try:
        path = package(
            args.run_dir,
            args.name,
            description=args.description,
            source_recipe=args.recipe,
            curve=args.curve,
            which=args.which,
            destination=args.destination,
            overwrite=args.overwrite,
            with_optimizer=args.with_optimizer,
            also_test={test[0]: test[1:] for test in args.also_test},
        )
    except (ValueError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Packaged {args.run_dir} as {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
