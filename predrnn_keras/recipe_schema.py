"""The recipe schema: every key of a recipe with its type, default and meaning.

A recipe (docs/recipes.md) is a TOML file of tables. `SCHEMA` lists every key
of `[model]`, `[train]`, `[distribution]` and `[evaluate]`; the `[data]`
table belongs to the data kinds (`predrnn_keras.data.kinds`), which check
it themselves. `predrnn_keras.recipe_config` merges recipes through this
schema, the checkpoint converter (`predrnn_keras.convert`) reads its
`[model]` table through it and `predrnn_keras.recipe_docs` writes
docs/recipes.md from it.

Facts are not repeated here: the defaults of `[model]` are the model
constructors' (`predrnn_keras.models.variants.model_defaults`), so they can
differ by variant; variant, sampling and fast-path names come from the
modules that define them. Every constructor argument is a `[model]` key but
`seed`, which is `train.seed`; `loss`, `loss_thresholds` and `loss_weights`,
which are `[train]` keys (the thresholds in the data's units, which
`predrnn_keras.recipe_config.model_units` converts); and `unroll`, which
the backend decides.
"""

import copy
import difflib
import math
import os
import tomllib
from dataclasses import dataclass
from typing import Any

from predrnn_keras import forecasters
from predrnn_keras.backends import FAST_PATHS
from predrnn_keras.models.sampled_training import LOSSES
from predrnn_keras.models.schedules import SAMPLING_MODES
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_defaults
from predrnn_keras.nowcasting.baselines import MOTION_METHODS

PRECISIONS = ("auto", "float32", "mixed_bfloat16")
DISTRIBUTION_MODES = ("none", "data_parallel", "multi_worker")
LEARNING_RATE_SCALINGS = ("none", "linear")
LEARNING_RATE_SCHEDULES = ("constant", "cosine")
DEFAULT_VARIANT = "predrnn_v2"

# A default taken from the model constructor of the recipe's variant.
FROM_MODEL = "from the model"


class RecipeError(ValueError):
    """A recipe key or value that is not allowed; the message names it."""


@dataclass(frozen=True)
class Field:
    """One recipe key: its type, default, allowed values and meaning.

    Attributes:
        type: "int", "float", "bool", "str", "int_list" (non-empty),
            "float_list" or "str_list" (possibly empty).
        default: the value of a key the recipe leaves out; `FROM_MODEL` for
            the model constructor's default (see `field_default`).
        low: the smallest allowed value (of every item of a list).
        choices: the allowed values.
        doc: the meaning, one line.
    """

    type: str
    default: Any
    low: float | None = None
    choices: tuple | None = None
    doc: str = ""


def _model(type, low=None, choices=None, doc=""):
    return Field(type, FROM_MODEL, low=low, choices=choices, doc=doc)


SCHEMA: dict[str, dict[str, Field]] = {
    "model": {
        "variant": Field(
            "str",
            DEFAULT_VARIANT,
            choices=VARIANTS,
            doc="the model: PredRNN (NeurIPS 2017) or PredRNN-V2 (TPAMI "
            "2022); the defaults of sampling and decouple_beta follow it",
        ),
        "num_hidden": _model(
            "int_list",
            low=1,
            doc="hidden channels of each ST-LSTM layer (equal in all layers)",
        ),
        "filter_size": _model(
            "int", low=1, doc="kernel size of the ST-LSTM convolutions"
        ),
        "patch_size": _model(
            "int",
            low=1,
            doc="frames are cut into patches of p x p pixels stacked as "
            'channels (docs/method.md, "Patching")',
        ),
        "layer_norm": _model(
            "bool", doc="layer normalisation after the gate convolutions"
        ),
        "input_length": _model(
            "int", low=1, doc="context frames, given before the prediction"
        ),
        "sampling": _model(
            "str",
            choices=SAMPLING_MODES,
            doc="training inputs: scheduled sampling, reverse scheduled "
            "sampling, or none (context true, later inputs generated)",
        ),
        "sampling_start_value": _model(
            "float",
            low=0.0,
            doc="scheduled sampling: probability of a true frame at first",
        ),
        "sampling_changing_rate": _model(
            "float",
            low=0.0,
            doc="scheduled sampling: decrease of that probability per "
            "iteration",
        ),
        "sampling_stop_iter": _model(
            "int",
            low=0,
            doc="scheduled sampling: iteration from which every later input "
            "is generated",
        ),
        "r_sampling_step_1": _model(
            "int",
            low=0,
            doc="reverse scheduled sampling: iteration at which the "
            "encoder's true-frame probability starts to rise",
        ),
        "r_sampling_step_2": _model(
            "int",
            low=1,
            doc="reverse scheduled sampling: iteration from which the "
            "encoder always sees true frames",
        ),
        "r_exp_alpha": _model(
            "float",
            low=1e-12,
            doc="reverse scheduled sampling: time constant of the "
            "exponential rise, in iterations",
        ),
        "decouple_beta": _model(
            "float",
            low=0.0,
            doc="weight of the memory decoupling loss; 0 turns it off",
        ),
        "reverse_input": _model(
            "bool",
            doc="also train on each sequence reversed in time (a second "
            "optimiser step per iteration)",
        ),
        "forget_bias": _model("float", doc="bias of the forget gates"),
        "residual": _model(
            "bool",
            doc="each frame predicted as the step's input frame plus a "
            "learned change, which starts at zero (untrained: the last "
            "frame repeated); false is the paper's network",
        ),
        "fast_paths": _model(
            "str",
            choices=FAST_PATHS,
            doc="auto: the backend's fast paths (same numbers, less time); "
            "off: plain Keras operations",
        ),
    },
    "train": {
        "iterations": Field("int", 80000, low=1, doc="training iterations"),
        "batch_size": Field(
            "int", 8, low=1, doc="sequences per batch (over all replicas)"
        ),
        "learning_rate": Field(
            "float", 3e-4, low=1e-12, doc="learning rate of Adam"
        ),
        "learning_rate_schedule": Field(
            "str",
            LEARNING_RATE_SCHEDULES[0],
            choices=LEARNING_RATE_SCHEDULES,
            doc="constant, or cosine: from `learning_rate` down to "
            "`final_learning_rate` over the run's optimiser steps",
        ),
        "final_learning_rate": Field(
            "float",
            0.0,
            low=0.0,
            doc="cosine schedule: learning rate at the last iteration",
        ),
        "total_length": Field(
            "int",
            20,
            low=2,
            doc="frames per training sequence (context and predicted)",
        ),
        "eval_every": Field(
            "int", 5000, low=1, doc="iterations between validations"
        ),
        "checkpoint_every": Field(
            "int", 5000, low=1, doc="iterations between checkpoints"
        ),
        "log_every": Field(
            "int", 100, low=1, doc="iterations between logged losses"
        ),
        "val_batches": Field("int", 10, low=1, doc="batches per validation"),
        "image_sequences": Field(
            "int", 4, low=0, doc="validation sequences drawn in TensorBoard"
        ),
        "keep_checkpoints": Field(
            "int", 3, low=1, doc="checkpoints kept in the run folder"
        ),
        "seed": Field(
            "int",
            0,
            low=0,
            doc="seed of the weights, the sampling masks and the data order",
        ),
        "init_from": Field(
            "str",
            "",
            doc="start from the weights of this model: a shipped model's "
            "name, a run folder (its best model) or a .keras file "
            "(train.py --init-from); empty for new weights",
        ),
        "init_continue": Field(
            "bool",
            False,
            doc="with init_from: take its optimizer state, schedule step and "
            "iteration too, and go on where it ended (train.py --continue; a "
            "run folder gives its last model)",
        ),
        "loss": Field(
            "str",
            LOSSES[0],
            choices=LOSSES,
            doc="mse: mean squared error; balanced: mean(w * err^2) + "
            "mean(w * abs(err)), each pixel weighted by its true value "
            '(docs/training.md, "Balanced loss")',
        ),
        "loss_thresholds": Field(
            "float_list",
            [],
            doc="balanced loss: strictly increasing values from which a "
            "pixel's weight rises, in the data's units: mm/h or dBZ for "
            "radar data, the frames' [0, 1] values otherwise",
        ),
        "loss_weights": Field(
            "float_list",
            [],
            low=1e-12,
            doc="balanced loss: one weight more than loss_thresholds; a "
            "pixel whose true value reaches k thresholds weighs "
            "loss_weights[k]",
        ),
        "precision": Field(
            "str",
            PRECISIONS[0],
            choices=PRECISIONS,
            doc="auto: mixed_bfloat16 where this machine computes bfloat16 "
            "natively (GPUs with bfloat16 tensor cores, CPUs with AMX or "
            "AVX-512 BF16), else float32; float32; or mixed_bfloat16: "
            "convolutions in bfloat16, weights, memories and losses in "
            "float32",
        ),
    },
    "distribution": {
        "mode": Field(
            "str",
            DISTRIBUTION_MODES[0],
            choices=DISTRIBUTION_MODES,
            doc="none, data_parallel (one host) or multi_worker (many)",
        ),
        "devices": Field(
            "int", 0, low=0, doc="devices per host; 0 = all local devices"
        ),
        "cpu_devices": Field(
            "int",
            0,
            low=0,
            doc="split the CPU into this many devices (testing); 0 = off",
        ),
        "coordinator_address": Field(
            "str", "", doc="JAX multi_worker: host:port of process 0"
        ),
        "num_processes": Field(
            "int", 0, low=0, doc="JAX multi_worker: processes; 0 = from env"
        ),
        "learning_rate_scaling": Field(
            "str",
            LEARNING_RATE_SCALINGS[0],
            choices=LEARNING_RATE_SCALINGS,
            doc="linear: learning rate times the number of replicas",
        ),
    },
    "evaluate": {
        "horizon": Field(
            "int", 10, low=1, doc="frames predicted after the context"
        ),
        "batch_size": Field("int", 8, low=1, doc="sequences per batch"),
        "num_sequences": Field(
            "int", 0, low=0, doc="test sequences to score; 0 = the whole split"
        ),
        "save_sequences": Field(
            "int", 10, low=0, doc="sequences written as PNG frames and GIFs"
        ),
        "gif_fps": Field(
            "float", 4.0, low=1e-3, doc="frames per second of the GIFs"
        ),
        "thresholds": Field(
            "float_list",
            [0.1, 1.0, 5.0, 10.0],
            doc="radar data: the rain thresholds of the nowcasting scores, "
            "in the data's unit (mm/h or dBZ)",
        ),
        "fss_scales": Field(
            "int_list",
            [1, 5, 10],
            low=1,
            doc="radar data: the fractions skill score's window sizes, in "
            "pixels",
        ),
        "extrapolation": Field(
            "str",
            "LK",
            choices=(*MOTION_METHODS, "none"),
            doc="radar data: the optical flow of the extrapolation baseline "
            "(pysteps.motion; LK: Lucas-Kanade), or none",
        ),
        "baselines": Field(
            "str_list",
            ["persistence", "extrapolation"],
            doc="radar data: the forecast methods scored beside the model, "
            "by their names in predrnn_keras.forecasters (built in: "
            + ", ".join(forecasters.names())
            + ")",
        ),
    },
}
# The data readers check the [data] table (predrnn_keras.data).
DATA_SECTION = "data"
SECTIONS = ("model", DATA_SECTION, "train", "distribution", "evaluate")
SECTION_DOCS = {
    "model": "The model and its training schedule: `variant` and the "
    "arguments of `PredRNN` / `PredRNNV2`.",
    DATA_SECTION: "The frames: `kind` picks the reader, which accepts the "
    "keys listed under its name (docs/data.md).",
    "train": "The length of the run, the loss, the optimiser and how often "
    "it validates, logs and checkpoints.",
    "distribution": "The devices and hosts training runs on "
    "(docs/training.md); optional, one device by default.",
    "evaluate": "The settings of `evaluate.py` (docs/evaluation.md).",
}


def field_default(section: str, key: str, variant: str = DEFAULT_VARIANT):
    """The default of `section.key` in a recipe of model `variant`.

    A `[model]` key takes the default of `variant`'s constructor.
    """
    field = SCHEMA[section][key]
    if field.default != FROM_MODEL:
        # A copy: a recipe's list must not alias the schema's.
        return copy.deepcopy(field.default)
    return model_defaults(variant)[key]


def is_int(value) -> bool:
    """Whether `value` is an integer (`True` and `False` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return (is_int(value) or isinstance(value, float)) and math.isfinite(value)


# What a value of each field type must be, in words, and the test of it.
_TYPES = {
    "int": ("an integer", is_int),
    "float": ("a number", _is_number),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("a string", lambda v: isinstance(v, str)),
    "int_list": (
        "a non-empty list of integers",
        lambda v: isinstance(v, list) and len(v) > 0 and all(map(is_int, v)),
    ),
    "float_list": (
        "a list of numbers",
        lambda v: isinstance(v, list) and all(map(_is_number, v)),
    ),
    "str_list": (
        "a list of strings",
        lambda v: isinstance(v, list)
        and all(isinstance(x, str) for x in v),
    ),
}
# How a checked value is stored.
_CONVERSIONS = {
    "float": float,
    "int_list": list,
    "float_list": lambda v: [float(x) for x in v],
    "str_list": list,
}


def type_name(field: Field) -> str:
    """What a value of `field` must be, in words ("an integer >= 1")."""
    text = _TYPES[field.type][0]
    if field.choices and field.type.endswith("_list"):
        text += " from " + ", ".join(repr(c) for c in field.choices)
    elif field.choices:
        text = "one of " + ", ".join(repr(c) for c in field.choices)
    elif field.low is not None:
        text += f" >= {field.low:g}"
    return text


def _allowed(field: Field, value) -> bool:
    """Whether a value of the right type is among the choices and >= low."""
    values = value if isinstance(value, list) else [value]
    if field.choices is not None:
        if not field.type.endswith("_list"):
            return value in field.choices
        return all(v in field.choices for v in values)
    if field.low is not None:
        return all(v >= field.low for v in values)
    return True


def check_value(section: str, key: str, value):
    """Returns `value` as `section.key`'s type, or raises `RecipeError`."""
    field = SCHEMA[section][key]
    ok = _TYPES[field.type][1](value)
    if ok:
        value = _CONVERSIONS.get(field.type, lambda v: v)(value)
        ok = _allowed(field, value)
    if not ok:
        name = f"{section}.{key}"
        raise RecipeError(
            f"Recipe key {name}: expected {type_name(field)}. "
            f"Received: {name}={value!r}"
        )
    return value


def unknown_key(name: str, known) -> RecipeError:
    """The error for a key that is not in `known`, with the closest one."""
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return RecipeError(
        f"Unknown recipe key {name}.{hint} Known keys: {', '.join(known)}."
    )


def check_section(section: str) -> None:
    """Raises `RecipeError` when `section` is not a table of a recipe."""
    if section not in SCHEMA and section != DATA_SECTION:
        raise unknown_key(section, [*SCHEMA, DATA_SECTION])


def check_key(section: str, key: str) -> None:
    """Raises `RecipeError` when `section.key` is not a recipe key."""
    check_section(section)
    if section != DATA_SECTION and key not in SCHEMA[section]:
        raise unknown_key(
            f"{section}.{key}", [f"{section}.{k}" for k in SCHEMA[section]]
        )


def check_is_table(section: str, table) -> None:
    """Raises `RecipeError` when `section` is not a known table."""
    check_section(section)
    if not isinstance(table, dict):
        raise RecipeError(
            f"Recipe entry {section} must be a table [{section}]. "
            f"Received: {section}={table!r}"
        )


def check_table(section: str, table) -> dict:
    """Checks the keys a recipe gives in `[section]`, without defaults.

    Returns:
        The given keys with their values converted to their types.
    """
    check_is_table(section, table)
    for key in table:
        check_key(section, key)
    return {key: check_value(section, key, v) for key, v in table.items()}


def complete_table(section: str, given: dict, variant: str) -> dict:
    """`given` (checked) with every other key of `section` at its default."""
    return {
        key: (
            given[key] if key in given else field_default(section, key, variant)
        )
        for key in SCHEMA[section]
    }


def read_toml(path: "str | os.PathLike[str]") -> dict:
    """Reads a recipe file as TOML, without checking its keys.

    Raises:
        RecipeError: the file is missing or not valid TOML.
    """
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise RecipeError(f"Recipe file not found: {path}") from None
    except OSError as error:
        raise RecipeError(f"Cannot read the recipe {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: not valid TOML: {error}") from None
    return {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
