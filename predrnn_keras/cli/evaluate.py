"""`predrnn-evaluate` (`python evaluate.py`): scores a trained model per
frame, draws pictures and GIFs, exports.

    predrnn-evaluate runs/quickstart                # its best.keras
    predrnn-evaluate runs/kth_predrnn --set evaluate.horizon=20
    predrnn-evaluate model.keras --recipe recipes/mnist_predrnn.toml
    predrnn-evaluate runs/quickstart --export exported/quickstart
    predrnn-evaluate predrnn_v2_moving_mnist        # a shipped model

Scores every predicted frame of the recipe's test split (MSE summed over
pixels as the papers report it, per-pixel MSE, MAE, PSNR and SSIM on 8-bit
frames) and writes metrics.json, metrics_per_frame.csv, a plot,
gt*.png / pd*.png per sequence, GIFs of context | truth | prediction and
TensorBoard summaries into a new folder (RUN/evaluation, -2, -3, ...).
"""

import argparse
import sys

from predrnn_keras.cli import add_backend_argument
from predrnn_keras.cli import add_overrides_argument
from predrnn_keras.cli import add_which_argument
from predrnn_keras.cli import start
from predrnn_keras.cli import write_failure


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "target",
        help="a run folder, a .keras file or a shipped model's name "
        "(predrnn_v2_moving_mnist)",
    )
    parser.add_argument(
        "--recipe",
        help="recipe with the test data (default: the run folder's recipe)",
    )
    add_overrides_argument(parser, "--set evaluate.horizon=20")
    add_which_argument(parser, "--model")
    parser.add_argument("--out", help="output folder (must not exist)")
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="also export a TensorFlow SavedModel (context in, "
        "evaluate.horizon frames out) to DIR",
    )
    parser.add_argument(
        "--export-only", action="store_true", help="export without evaluating"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing export folder",
    )
    add_backend_argument(parser)
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = parse_args(argv)
    if args.export_only and not args.export:
        print("error: --export-only needs --export DIR", file=sys.stderr)
        return 2
    start(args.backend)

    from predrnn_keras import recipe_config
    from predrnn_keras.evaluation import EvaluationError
    from predrnn_keras.evaluation import evaluate
    from predrnn_keras.evaluation import resolve_target
    from predrnn_keras.export import ExportError
    from predrnn_keras.export import export_saved_model
    from predrnn_keras.run_folder import load_run_model

    verbose = 0 if args.quiet else 1
    try:
        if args.export_only:
            model_path, recipe_source, run_dir = resolve_target(
                args.target, args.recipe, args.which
            )
            recipe = recipe_config.load_recipe(recipe_source, args.overrides)
            model, _ = load_run_model(model_path, run_dir, args.which)
        else:
            _, _, model, recipe = evaluate(
                args.target,
                recipe_path=args.recipe,
                overrides=args.overrides,
                out_dir=args.out,
                which=args.which,
                verbose=verbose,
            )
        if args.export:
            info = export_saved_model(
                model,
                args.export,
                horizon=recipe["evaluate"]["horizon"],
                overwrite=args.overwrite,
            )
            if verbose:
                print(
                    f"SavedModel: {info['path']}\n  signature "
                    f"{info['signature']}\n  largest difference from the "
                    f"Keras model: {info['max_abs_difference']:.2g}\n"
                    "  use: tf.saved_model.load(path).serve(context)"
                )
    except (EvaluationError, ExportError, recipe_config.RecipeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        message = write_failure(error, args.out or args.target)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
