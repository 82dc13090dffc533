"""Prepares a data set once: decodes KTH or frame folders into the cache.

    python -m predrnn_keras.data recipes/kth_predrnn_v2.toml
    python -m predrnn_keras.data --kind kth --path ~/data/kth --image-size 128

The first form reads the recipe's `[data]` table, the second builds one from
the options (which also override the recipe's values). Each split's sequence
count is printed; `--total-length` (default: `train.total_length`'s) and
`--test-total-length` (default: the same) choose the sequence lengths
counted.
"""

import argparse
import sys

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.dataset_builder import make_reader
from predrnn_keras.recipe_schema import DATA_SECTION
from predrnn_keras.recipe_schema import RecipeError
from predrnn_keras.recipe_schema import field_default
from predrnn_keras.recipe_schema import read_toml


def main(argv: "list[str] | None" = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m predrnn_keras.data", description=__doc__.split("\n")[0]
    )
    parser.add_argument("recipe", nargs="?", help="a recipe .toml file")
    parser.add_argument("--kind", help="the [data] kind, e.g. kth")
    parser.add_argument("--path", help="the data's file or folder")
    parser.add_argument("--image-size", type=int, help="frame size, e.g. 128")
    parser.add_argument("--cache-dir", help="where decoded frames go")
    parser.add_argument("--total-length", type=int)
    parser.add_argument("--test-total-length", type=int)
    args = parser.parse_args(argv)
    config, train = {}, {}
    if args.recipe:
        try:
            raw = read_toml(args.recipe)
        except RecipeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        config = dict(raw.get(DATA_SECTION, {}))
        train = raw.get("train", {})
    total_length = args.total_length or train.get(
        "total_length", field_default("train", "total_length")
    )
    options = {
        "kind": args.kind,
        "path": args.path,
        "image_size": args.image_size,
        "cache_dir": args.cache_dir,
    }
    config.update({k: v for k, v in options.items() if v is not None})
    lengths = {
        "train": total_length,
        "val": args.test_total_length or total_length,
        "test": args.test_total_length or total_length,
    }
    for split, total_length in lengths.items():
        try:
            reader = make_reader(config, split, total_length)
        except DataError as err:
            print(f"{split}: {err}")
            continue
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{split}: {reader.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
