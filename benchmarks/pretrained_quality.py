#!/usr/bin/env python3
"""How well does a trained model predict? The test scores of a shipped model,
or of every checkpoint of a run (its training curve).

    python benchmarks/pretrained_quality.py                  # the shipped model
    python benchmarks/pretrained_quality.py --model runs/quickstart
    python benchmarks/pretrained_quality.py --model runs/RUN/checkpoints/ckpt-0001200.keras \
        --recipe runs/RUN/recipe.toml
    python benchmarks/pretrained_quality.py --checkpoints runs/RUN \\
        --json curve.json
    python benchmarks/pretrained_quality.py --set data.speed=3.6

Scores the model on its recipe's test split (generated Moving MNIST: 1,000
sequences of two digits from the test digits, 10 -> 10 frames; `--set`
changes it, e.g. `data.speed=3.6` for the fixed speed of the benchmark's
`mnist_test_seq.npy`) with the metrics of `evaluate.py`, and prints the
MSE per frame (summed over pixels, the papers' number), SSIM and PSNR.
`--checkpoints` scores each checkpoint in RUN/checkpoints and the run's
best model; `--json` writes the rows, in the form `python -m
predrnn_keras.cli.package --curve` reads.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

# Runs as `python benchmarks/pretrained_quality.py` from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from predrnn_keras.cli import start  # noqa: E402

SHIPPED = "predrnn_v2_moving_mnist"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=SHIPPED,
        help=f"a shipped model's name, run folder or .keras (default {SHIPPED})",
    )
    parser.add_argument(
        "--recipe", help="the recipe of a .keras file outside a run folder"
    )
    parser.add_argument(
        "--checkpoints", metavar="RUN", help="score every checkpoint of RUN"
    )
    parser.add_argument(
        "--sequences", type=int, default=0,
        help="test sequences to score; 0 = the whole split",
    )
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[],
        metavar="KEY=VALUE", help="a recipe override for the test data",
    )
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    return parser.parse_args(argv)


def score(model_path, recipe, sequences: int) -> dict:
    import keras

    from predrnn_keras.evaluation import evaluate_model

    model = keras.saving.load_model(model_path, compile=False)
    recipe = {
        **recipe,
        "evaluate": {
            **recipe["evaluate"],
            "num_sequences": sequences,
            "save_sequences": 0,
        },
    }
    started = time.time()
    with tempfile.TemporaryDirectory() as out:
        results = evaluate_model(model, recipe, out, verbose=0)
    mean = results["mean"]
    return {
        "iteration": results["model_iteration"],
        "mse_frame_sum": round(mean["mse_frame_sum"], 3),
        "ssim_8bit": round(mean["ssim_8bit"], 4),
        "psnr_8bit": round(mean["psnr_8bit"], 3),
        "num_sequences": results["num_sequences"],
        "seconds": round(time.time() - started, 1),
    }


def main(argv=None):
    args = parse_args(argv)
    start(args.backend)
    import keras

    from predrnn_keras import recipe_config
    from predrnn_keras.hardware import describe_machine
    from predrnn_keras.run_folder import RunFolder
    from predrnn_keras.run_folder import resolve_target

    if args.checkpoints:
        run = RunFolder(args.checkpoints)
        recipe = run.read_recipe()
        paths = sorted(run.checkpoint_dir.glob("ckpt-*.keras"))
        if run.best_path.is_file():
            paths.append(run.best_path)
        names = [p.name for p in paths]
    else:
        model_path, recipe_path, _ = resolve_target(args.model, args.recipe)
        recipe = recipe_config.load_recipe(recipe_path)
        paths, names = [model_path], [args.model]
    recipe = recipe_config.with_overrides(recipe, args.overrides)
    print(
        f"# {describe_machine()} | keras {keras.__version__}, backend "
        f"{keras.backend.backend()}"
    )
    print(f"{'model':>24} {'iteration':>9} {'MSE/frame':>9} {'SSIM':>6} "
          f"{'PSNR':>6} {'seqs':>5}")
    rows = []
    for name, path in zip(names, paths):
        row = {"model": name, **score(path, recipe, args.sequences)}
        rows.append(row)
        print(
            f"{name:>24} {row['iteration']:>9} {row['mse_frame_sum']:>9.2f} "
            f"{row['ssim_8bit']:>6.3f} {row['psnr_8bit']:>6.2f} "
            f"{row['num_sequences']:>5}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"checkpoints": rows, "machine": describe_machine()},
                      f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
