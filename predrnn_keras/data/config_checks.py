"""Validation of the `[data]` table of a recipe, shared by the readers.

Every reader lists the keys it accepts in `KEYS` (`DataKey`s: their type,
default and meaning, shown in docs/recipes.md) and reads each value through
one of these functions, so that a wrong key or value fails before any file
is opened, with a `ValueError` naming the key, what was expected and what
was received.
"""

import difflib
import os
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataKey:
    """One key of a reader's `[data]` table.

    Attributes:
        type: what the value must be, in words.
        default: the value of a key left out; None where there is no one
            value (the key is required, or `doc` says what happens).
        doc: the meaning, one line.
    """

    type: str
    default: Any
    doc: str


SPLITS = ("train", "val", "test")
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
PATHS = "a path or a list of paths (read as one, in order)"
# Keys of the readers of files: one source split by `split_fractions`, or one
# source per split.
SPLIT_KEYS = {
    "path": DataKey(
        PATHS, None, "the data of all splits, cut by split_fractions"
    ),
    "train_path": DataKey(PATHS, None, "the training data (without path)"),
    "val_path": DataKey(
        PATHS,
        None,
        "the validation data (without path); default: test_path, as the "
        "reference validates on its test set",
    ),
    "test_path": DataKey(PATHS, None, "the test data (without path)"),
    "split_fractions": DataKey(
        "a list [train, val, test] of fractions >= 0 with a sum <= 1",
        list(DEFAULT_SPLIT_FRACTIONS),
        "shares of the sequences of path, in order",
    ),
}
STRIDE = DataKey(
    "an integer >= 1",
    None,
    "frames between the starts of a file's windows of train.total_length "
    "frames; default train.total_length (windows do not overlap)",
)
VALUE_RANGE = DataKey(
    "a list [low, high] of numbers, low < high",
    None,
    "raw values mapped to 0 and 1 (and clipped); default from the dtype: "
    "uint8 0-255, uint16 0-65535, floats as they are",
)
CACHE_DIR = DataKey(
    "a path",
    None,
    "where decoded frames are cached; default $XDG_CACHE_HOME/"
    "predrnn_keras (~/.cache/predrnn_keras)",
)


def check_keys(config: Mapping, kind: str, accepted: Sequence[str]) -> None:
    """Raises `ValueError` for a key that the reader of `kind` does not read."""
    for key in config:
        if key != "kind" and key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise ValueError(
                f"Unknown key '{key}' in the [data] table for kind='{kind}'."
                f"{hint} Accepted keys: kind, {', '.join(sorted(accepted))}."
            )


def _fail(key: str, expected: str, value) -> ValueError:
    return ValueError(
        f"Expected [data] {key} to be {expected}. Received: {key}={value!r}"
    )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def get_int(
    config: Mapping,
    key: str,
    default: int,
    low: int = 1,
    high: "int | None" = None,
) -> int:
    """Returns `config[key]` (or `default`), an integer in [low, high]."""
    value = config.get(key, default)
    within = _is_int(value) and value >= low and (high is None or value <= high)
    if not within:
        bounds = f"from {low} to {high}" if high is not None else f">= {low}"
        raise _fail(key, f"an integer {bounds}", value)
    return value


def get_int_list(
    config: Mapping, key: str, default: Sequence[int], low: int, high: int
) -> tuple[int, ...]:
    """Returns `config[key]` (or `default`): a non-empty list of integers."""
    value = config.get(key, default)
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or not value
        or not all(_is_int(v) and low <= v <= high for v in value)
    ):
        raise _fail(
            key, f"a non-empty list of integers from {low} to {high}", value
        )
    return tuple(value)


def get_str_list(
    config: Mapping, key: str, choices: Sequence[str]
) -> tuple[str, ...]:
    """Returns `config[key]` (or all `choices`): a list of some choices."""
    value = config.get(key, list(choices))
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, Sequence)
        or not value
        or not all(v in choices for v in value)
    ):
        raise _fail(
            key, f"a non-empty list of names among {', '.join(choices)}", value
        )
    return tuple(value)


def get_image_size(
    config: Mapping, default: "int | None" = None
) -> "tuple[int, int] | None":
    """Returns `image_size` as (height, width) (or `default` square).

    The value is an integer (square frames) or a list `[height, width]`.
    """
    value = config.get("image_size", default)
    if value is None:
        return None
    if _is_int(value) and value > 0:
        return (value, value)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) == 2
        and all(_is_int(v) and v > 0 for v in value)
    ):
        return (value[0], value[1])
    raise _fail(
        "image_size",
        "a positive integer or a list [height, width] of them",
        value,
    )


def get_value_range(config: Mapping) -> "tuple[float, float] | None":
    """Returns `value_range` [low, high], the raw values mapped to 0 and 1."""
    value = config.get("value_range")
    if value is None:
        return None
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
        and not any(isinstance(v, bool) for v in value)
        and value[0] < value[1]
    ):
        return (float(value[0]), float(value[1]))
    raise _fail(
        "value_range", "a list [low, high] of numbers, low < high", value
    )


def get_choice(config: Mapping, key: str, choices: Sequence, default):
    """Returns `config[key]` (or `default`), one of `choices`."""
    value = config.get(key, default)
    if value not in choices:
        raise _fail(key, f"one of {', '.join(map(repr, choices))}", value)
    return value


def to_paths(key: str, value) -> list[Path]:
    """Turns a path or a list of paths (read as one, in order) into absolute
    Paths, so that a cache keyed on them does not depend on the working
    folder."""
    items = [value] if isinstance(value, (str, os.PathLike)) else value
    if (
        not isinstance(items, Sequence)
        or isinstance(items, (str, bytes))
        or not items
        or not all(isinstance(v, (str, os.PathLike)) for v in items)
    ):
        raise _fail(key, "a path or a non-empty list of paths", value)
    return [Path(os.path.abspath(os.path.expanduser(v))) for v in items]


def get_path(config: Mapping, key: str = "path") -> Path:
    """Returns the one path under `key`, which is required."""
    if config.get(key) is None:
        raise _fail(key, "a path (required)", None)
    paths = to_paths(key, config[key])
    if len(paths) != 1:
        raise _fail(key, "a single path", config[key])
    return paths[0]


def get_split_fractions(config: Mapping) -> tuple[float, float, float]:
    """Returns `split_fractions` [train, val, test]: shares of the sequences."""
    value = config.get("split_fractions", DEFAULT_SPLIT_FRACTIONS)
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes))
        and len(value) == 3
        and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
            for v in value
        )
        and sum(value) <= 1.0 + 1e-9
    ):
        return (float(value[0]), float(value[1]), float(value[2]))
    raise _fail(
        "split_fractions",
        "a list [train, val, test] of fractions >= 0 with a sum <= 1",
        value,
    )


def split_sources(
    config: Mapping, split: str
) -> tuple[list[Path], tuple[float, float]]:
    """Returns the paths of a split and the share of their sequences it takes.

    Either `path` names the data of all splits and `split_fractions` cuts its
    sequences, in order, into train, val and test; or `train_path`,
    `val_path` and `test_path` name each split's data, taken whole (a missing
    `val_path` falls back to `test_path`, as the reference validates on its
    test set).

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".

    Returns:
        The paths (several are concatenated in order) and the (start, stop)
        fractions of their sequences that belong to `split`.
    """
    own = [f"{s}_path" for s in SPLITS if config.get(f"{s}_path") is not None]
    if config.get("path") is not None:
        if own:
            raise ValueError(
                f"Expected [data] to give either path or train_path/val_path/"
                f"test_path, not both. Received: path and {own[0]}"
            )
        fractions = get_split_fractions(config)
        start = sum(fractions[: SPLITS.index(split)])
        return to_paths("path", config["path"]), (
            start,
            start + fractions[SPLITS.index(split)],
        )
    if "split_fractions" in config:
        raise ValueError(
            "Expected [data] split_fractions only with a single path. "
            f"Received: split_fractions with {', '.join(own) or 'no path'}"
        )
    key = f"{split}_path"
    if config.get(key) is None and split == "val":
        key = "test_path"
    if config.get(key) is None:
        raise ValueError(
            f"Expected [data] {split}_path (or path with split_fractions) "
            f"for the {split} split. Received: no {split}_path"
        )
    return to_paths(key, config[key]), (0.0, 1.0)


def fraction_slice(count: int, fractions: tuple[float, float]) -> slice:
    """Returns the slice of `count` ordered items covered by `fractions`."""
    return slice(round(fractions[0] * count), round(fractions[1] * count))
