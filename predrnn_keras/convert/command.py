"""The command `python -m predrnn_keras.convert` (`predrnn-convert`)."""

import argparse
import sys

from predrnn_keras.convert.converter import convert_checkpoint
from predrnn_keras.convert.converter import describe
from predrnn_keras.convert.converter import parse_image_size
from predrnn_keras.convert.hyperparameters import int_list
from predrnn_keras.convert.reference_checkpoint import ConversionError
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_defaults


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m predrnn_keras.convert",
        description=(
            "Convert a PredRNN / PredRNN-V2 checkpoint of the PyTorch "
            "reference implementation (model.ckpt-<iteration>) into a .keras "
            "model. Hyper-parameters come from a recipe and/or the flags "
            "(flags win); what the tensors determine is read from them and "
            "everything given is checked against them. Needs PyTorch "
            "(pip install torch) for reading the file only."
        ),
    )
    parser.add_argument("checkpoint", help="the reference checkpoint file")
    parser.add_argument(
        "-o",
        "--output",
        help="the .keras file to write (default: CHECKPOINT.keras)",
    )
    parser.add_argument(
        "--recipe", help="recipe TOML: its [model] and [data] tables"
    )
    parser.add_argument(
        "--num-hidden", help="hidden channels per layer, e.g. 128,128,128,128"
    )
    parser.add_argument("--filter-size", type=int)
    parser.add_argument("--patch-size", type=int)
    parser.add_argument(
        "--image-size", help="frame size: 64 or HEIGHT,WIDTH (e.g. 120,160)"
    )
    parser.add_argument("--channels", type=int, help="frame channels")
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument(
        "--layer-norm", action=argparse.BooleanOptionalAction, default=None
    )
    parser.add_argument(
        "--input-length",
        type=int,
        help="context frames (default "
        f"{model_defaults('predrnn')['input_length']})",
    )
    parser.add_argument(
        "--decouple-beta",
        type=float,
        help="PredRNN-V2 decoupling weight, for further training",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing output"
    )
    return parser


def main(argv: list | None = None) -> int:
    """The `python -m predrnn_keras.convert` command. Returns the exit code."""
    args = _parser().parse_args(argv)
    output = args.output or args.checkpoint + ".keras"
    model_kwargs = {}
    if args.num_hidden is not None:
        model_kwargs["num_hidden"] = int_list(args.num_hidden, "--num-hidden")
    for name in (
        "filter_size",
        "patch_size",
        "layer_norm",
        "input_length",
        "decouple_beta",
    ):
        if getattr(args, name) is not None:
            model_kwargs[name] = getattr(args, name)
    height = width = None
    try:
        if args.image_size is not None:
            height, width = parse_image_size(args.image_size, "--image-size")
        model = convert_checkpoint(
            args.checkpoint,
            output,
            model_kwargs,
            (height, width, args.channels),
            recipe=args.recipe,
            variant=args.variant,
            overwrite=args.overwrite,
        )
    except ConversionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Converted {args.checkpoint} ({describe(model)}) -> {output}")
    return 0
