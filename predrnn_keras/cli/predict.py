"""`predrnn-predict` (`python predict.py`, `python -m predrnn_keras.predict`):
forecasts your own sequences with a trained model.

    predrnn-predict clip.mp4 --model predrnn_v2_moving_mnist --fit resize \
        --convert-channels
    predrnn-predict frames_folder/ --model runs/quickstart --horizon 20
    predrnn-predict sequences.npy --model model.keras --out forecasts
    predrnn-predict clips/ --model predrnn_v2_moving_mnist --score
    predrnn-predict radar_files/ --model runs/radar --horizon 12

The input is a video (.mp4, .avi, .gif, ...), a folder of frame images, an
.npy / .npz array of one sequence (T, H, W[, C]) or many (N, T, H, W[, C]),
or a folder of any of these. The model sees the last `input_length` frames
of each sequence (with --score: the first ones, and the frames after them
are the truth the forecast is scored against).

For a model whose recipe reads radar files (`[data] kind = "radar"`), a
folder is a folder of radar files, found with the recipe's pattern and read
as the recipe reads them: the forecast follows the last `input_length`
time steps (with --score: the first ones), in mm/h or dBZ, with the times
in summary.json and, with --score, the nowcasting scores.

Per sequence, in OUT/<name>/: forecast_01.png ..., forecast.gif (context,
then forecast; beside the truth with --score) and forecast.npy (float32,
in the input's units); OUT/summary.json for the run. OUT defaults to
predictions (then predictions-2, ...); an existing OUT is replaced only
with --overwrite.
"""

import argparse
import sys

from predrnn_keras.cli import add_backend_argument
from predrnn_keras.cli import add_which_argument
from predrnn_keras.cli import start
from predrnn_keras.cli import write_failure


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        help="a video, GIF, folder of frames, .npy / .npz, or a folder of "
        "these",
    )
    _add_model_arguments(parser)
    _add_output_arguments(parser)
    _add_frame_arguments(parser)
    add_backend_argument(parser)
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def _add_model_arguments(parser) -> None:
    """Which model forecasts, and how far."""
    parser.add_argument(
        "--model",
        required=True,
        help="a shipped model's name (predrnn_v2_moving_mnist), a run "
        "folder or a .keras file",
    )
    parser.add_argument(
        "--recipe",
        help="the model's recipe, for a .keras file outside a run folder "
        "(default: the run folder's or shipped model's)",
    )
    add_which_argument(parser, "--which")
    parser.add_argument(
        "--horizon",
        type=int,
        help="frames to predict (default: what the model was trained for)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=8, help="sequences per batch"
    )


def _add_output_arguments(parser) -> None:
    """Where the forecasts go, and whether they are scored."""
    parser.add_argument("--out", help="output folder (default: predictions)")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an earlier forecast in --out",
    )
    parser.add_argument(
        "--score",
        action="store_true",
        help="the input holds the future too: score the forecast of its "
        "first frames against the frames that follow",
    )
    parser.add_argument(
        "--fps", type=float, default=4.0, help="frames per second of GIFs"
    )


def _add_frame_arguments(parser) -> None:
    """How frames, videos and arrays that differ from the model's are
    read."""
    parser.add_argument(
        "--fit",
        choices=["resize", "crop"],
        help="frames of another size than the model's: resize them, or "
        "crop their centre (and resize)",
    )
    parser.add_argument(
        "--convert-channels",
        action="store_true",
        help="convert grey <-> RGB frames to the model's channels",
    )
    parser.add_argument(
        "--value-range",
        nargs=2,
        type=float,
        metavar=("LOW", "HIGH"),
        help="raw values mapped to 0 and 1 (default: uint8 0 255, uint16 "
        "0 65535, floats as they are)",
    )
    parser.add_argument("--key", help="the array of an .npz with several")


def main(argv=None):
    """Runs the command line; returns the exit status."""
    args = parse_args(argv)
    if args.value_range and args.value_range[0] >= args.value_range[1]:
        print(
            f"error: --value-range {args.value_range[0]:g} "
            f"{args.value_range[1]:g}: expected LOW < HIGH",
            file=sys.stderr,
        )
        return 2
    if args.batch_size < 1:
        print("error: --batch-size must be >= 1", file=sys.stderr)
        return 2
    start(args.backend)

    from predrnn_keras.nowcasting.extra import MissingExtraError
    from predrnn_keras.predict import forecast

    try:
        forecast(
            args.model,
            args.input,
            out_dir=args.out,
            horizon=args.horizon,
            score=args.score,
            fit=args.fit,
            convert_channels=args.convert_channels,
            value_range=args.value_range,
            key=args.key,
            batch_size=args.batch_size,
            which=args.which,
            overwrite=args.overwrite,
            fps=args.fps,
            verbose=0 if args.quiet else 1,
            recipe=args.recipe,
        )
    except (ValueError, MissingExtraError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        message = write_failure(error, args.out or "predictions")
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
