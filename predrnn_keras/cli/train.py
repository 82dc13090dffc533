"""`predrnn-train` (`python train.py`): trains PredRNN / PredRNN-V2 from a
recipe, resumably.

    predrnn-train                                    # recipes/quickstart.toml
    predrnn-train recipes/mnist_predrnn_v2.toml --set train.batch_size=4
    predrnn-train recipes/kth_predrnn.toml --set data.path=/data/kth \\
        --run-dir runs/kth-a --backend jax
    predrnn-train recipes/kth_predrnn.toml --distribution data_parallel
    predrnn-train recipes/kth_predrnn.toml --precision mixed_bfloat16
    predrnn-train my_clips.toml --init-from predrnn_v2_moving_mnist
    predrnn-train RECIPE --init-from runs/old --continue --run-dir runs/more

The run folder (default runs/<recipe name>) receives the merged recipe,
checkpoints, best.keras, last.keras and TensorBoard logs. Running the same
command again after an interruption resumes from the last checkpoint; a
finished run says so and stops. Existing outputs are never deleted unless
--overwrite is given.
"""

import argparse
import sys
from pathlib import Path

from predrnn_keras.cli import add_backend_argument
from predrnn_keras.cli import add_overrides_argument
from predrnn_keras.cli import start
from predrnn_keras.cli import write_failure

# A checkout's quick-start recipe, wherever the command runs; an installed
# package looks in the working directory's recipes/.
DEFAULT_RECIPE = (
    Path(__file__).resolve().parents[2] / "recipes" / "quickstart.toml"
)
if not DEFAULT_RECIPE.exists():
    DEFAULT_RECIPE = Path("recipes") / "quickstart.toml"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "recipe",
        nargs="?",
        default=str(DEFAULT_RECIPE),
        help="a TOML recipe (default: recipes/quickstart.toml)",
    )
    add_overrides_argument(
        parser,
        "--set model.num_hidden=[64,64] --set train.learning_rate=1e-4",
    )
    parser.add_argument(
        "--run-dir", help="the run folder (default: runs/<recipe name>)"
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="delete an existing run in the run folder and start again",
    )
    add_backend_argument(parser)
    _add_placement_arguments(parser)
    _add_init_arguments(parser)
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar or messages"
    )
    return parser.parse_args(argv)


def _add_placement_arguments(parser) -> None:
    """Where and in which precision training runs."""
    parser.add_argument(
        "--distribution",
        help="where to train (sets distribution.mode): none, "
        "data_parallel = all devices of this host, multi_worker = several "
        "hosts (JAX: with "
        "--process-id and distribution.coordinator_address; TensorFlow: "
        "TF_CONFIG)",
    )
    parser.add_argument(
        "--precision",
        choices=["auto", "float32", "mixed_bfloat16"],
        help="sets train.precision: auto (the default: mixed_bfloat16 where "
        "this machine computes bfloat16 natively, else float32), float32, "
        "or mixed_bfloat16 to run the convolutions in bfloat16 (fast on "
        "GPUs and on CPUs with AMX / AVX-512 BF16) and keep weights, "
        "memories and losses in float32",
    )
    parser.add_argument(
        "--process-id",
        type=int,
        help="JAX multi_worker: this process's number, 0 on the coordinator",
    )


def _add_init_arguments(parser) -> None:
    """Starting from a trained model."""
    parser.add_argument(
        "--init-from",
        metavar="MODEL",
        help="start from this model's weights (sets train.init_from): a "
        "shipped model's name, a run folder or a .keras file; the recipe's "
        "[model] keys left out are MODEL's",
    )
    parser.add_argument(
        "--continue",
        dest="init_continue",
        action="store_true",
        help="with --init-from: take its optimizer state and schedule step "
        "too and go on at its iteration (sets train.init_continue)",
    )


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = parse_args(argv)
    start(args.backend)

    from predrnn_keras.recipe_config import RecipeError
    from predrnn_keras.recipe_config import load_recipe
    from predrnn_keras.training import NonFiniteLossError
    from predrnn_keras.training import TrainingStopped
    from predrnn_keras.training import RunFolderError
    from predrnn_keras.training import train
    from predrnn_keras.training.initial_model import model_table

    try:
        overrides = list(args.overrides)
        if args.distribution:
            overrides.append(f"distribution.mode={args.distribution!r}")
        if args.precision:
            overrides.append(f"train.precision={args.precision!r}")
        overrides += _init_overrides(args)
        recipe = load_recipe(
            args.recipe, overrides, init_model_table=model_table
        )
        run_dir = args.run_dir or Path("runs") / Path(args.recipe).stem
        train(
            recipe,
            run_dir,
            overwrite=args.overwrite,
            verbose=0 if args.quiet else 1,
            process_id=args.process_id,
        )
    except (RecipeError, RunFolderError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLossError as error:
        print(f"stopped: {error}", file=sys.stderr)
        return 3
    except TrainingStopped as error:
        print(f"stopped: {error}", file=sys.stderr)
        return error.exit_status
    except OSError as error:
        message = write_failure(error, args.run_dir or Path("runs") / Path(args.recipe).stem)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    except ValueError as error:
        # Data that cannot be read as configured (DataError) and the like.
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nInterrupted. Run the same command again to resume from the "
            "last checkpoint.",
            file=sys.stderr,
        )
        return 130
    return 0


def _init_overrides(args) -> list:
    """`--init-from` and `--continue` as recipe overrides."""
    overrides = []
    if args.init_from:
        target = args.init_from
        if Path(target).exists():
            # A path, kept absolute so that a resumed run finds it from
            # anywhere; a shipped model's name stays a name.
            target = str(Path(target).resolve())
        overrides.append(f"train.init_from={target!r}")
    if args.init_continue:
        overrides.append("train.init_continue=true")
    return overrides


if __name__ == "__main__":
    sys.exit(main())
