"""Recipes: TOML files that hold every setting of a training run.

A recipe has five tables:

- `[model]`: `variant` ("predrnn" or "predrnn_v2") and the arguments of
  `PredRNN` / `PredRNNV2`.
- `[data]`: the table given to `predrnn_keras.data.build_dataset`; its `kind`
  picks the reader, which checks the other keys itself.
- `[train]`: the length of the run, the optimiser and how often it logs,
  evaluates and checkpoints.
- `[distribution]`: the devices and hosts training runs on
  (`predrnn_keras.distribution`); optional, one device by default.
- `[evaluate]`: the settings of `evaluate.py`.

`SCHEMA` lists every key of the tables other than `[data]` with its
type and default; `load_recipe` merges a file and `--set` overrides onto the
defaults and checks every value, so that a typo or a wrong type fails at once
with a message that names the key. The merged recipe is complete (no value is
left implicit) and `dump_recipe` writes it back as TOML into the run folder.

Example:

>>> recipe = load_recipe("recipes/quickstart.toml",
...                      ["model.num_hidden=[32, 32]", "train.iterations=10"])
>>> recipe["model"]["num_hidden"]
[32, 32]
"""

import difflib
import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VARIANTS = ("predrnn", "predrnn_v2")
SAMPLING_MODES = ("scheduled", "reverse", "none")
DISTRIBUTION_MODES = ("none", "data_parallel", "multi_worker")
PRECISIONS = ("float32", "mixed_bfloat16")
RECIPE_FILE = "recipe.toml"


@dataclass(frozen=True)
class Field:
    """One recipe key: its type, default and allowed values.

    `kind` is one of "int", "float", "bool", "str", "int_list". `default`
    None means "depends on the model variant" (see `VARIANT_DEFAULTS`).
    """

    kind: str
    default: Any
    low: float | None = None
    choices: tuple | None = None
    doc: str = ""


SCHEMA: dict[str, dict[str, Field]] = {
    "model": {
        "variant": Field(
            "str", "predrnn_v2", choices=VARIANTS, doc="predrnn or predrnn_v2"
        ),
        "num_hidden": Field(
            "int_list", [128, 128, 128, 128], low=1, doc="channels per layer"
        ),
        "filter_size": Field("int", 5, low=1),
        "patch_size": Field("int", 4, low=1),
        "layer_norm": Field("bool", False),
        "input_length": Field("int", 10, low=1, doc="context frames"),
        "sampling": Field("str", None, choices=SAMPLING_MODES),
        "sampling_start_value": Field("float", 1.0, low=0.0),
        "sampling_changing_rate": Field("float", 2e-5, low=0.0),
        "sampling_stop_iter": Field("int", 50000, low=0),
        "r_sampling_step_1": Field("int", 25000, low=0),
        "r_sampling_step_2": Field("int", 50000, low=1),
        "r_exp_alpha": Field("float", 2500.0, low=1e-12),
        "decouple_beta": Field("float", None, low=0.0),
        "reverse_input": Field("bool", True),
        "forget_bias": Field("float", 1.0),
    },
    "train": {
        "iterations": Field("int", 80000, low=1),
        "batch_size": Field("int", 8, low=1),
        "learning_rate": Field("float", 3e-4, low=1e-12),
        "total_length": Field("int", 20, low=2, doc="frames per sequence"),
        "eval_every": Field("int", 5000, low=1, doc="iterations"),
        "checkpoint_every": Field("int", 5000, low=1, doc="iterations"),
        "log_every": Field("int", 100, low=1, doc="iterations"),
        "val_batches": Field("int", 10, low=1, doc="batches per evaluation"),
        "image_sequences": Field(
            "int", 4, low=0, doc="validation sequences drawn in TensorBoard"
        ),
        "keep_checkpoints": Field("int", 3, low=1),
        "seed": Field("int", 0, low=0),
        "precision": Field(
            "str",
            "float32",
            choices=PRECISIONS,
            doc="float32, or mixed_bfloat16: convolutions in bfloat16, "
            "weights, memories and losses in float32",
        ),
    },
    "distribution": {
        "mode": Field(
            "str",
            "none",
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
            "none",
            choices=("none", "linear"),
            doc="linear: learning rate times the number of replicas",
        ),
    },
    "evaluate": {
        "horizon": Field(
            "int", 10, low=1, doc="frames predicted after context"
        ),
        "batch_size": Field("int", 8, low=1),
        "num_sequences": Field(
            "int", 0, low=0, doc="test sequences to score; 0 = the whole split"
        ),
        "save_sequences": Field(
            "int", 10, low=0, doc="sequences written as PNG frames and GIFs"
        ),
        "gif_fps": Field("float", 4.0, low=1e-3),
    },
}

# Keys whose default follows the model variant, as the reference scripts.
VARIANT_DEFAULTS = {
    "predrnn": {"sampling": "scheduled", "decouple_beta": 0.0},
    "predrnn_v2": {"sampling": "reverse", "decouple_beta": 0.1},
}


class RecipeError(ValueError):
    """A recipe key or value that is not allowed; the message names it."""


# Reading ----------------------------------------------------------------


def _type_name(field: Field) -> str:
    names = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
        "int_list": "a non-empty list of integers",
    }
    text = names[field.kind]
    if field.choices:
        text = "one of " + ", ".join(repr(c) for c in field.choices)
    elif field.low is not None:
        text += f" >= {field.low:g}"
    return text


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(section: str, key: str, field: Field, value):
    """Returns `value` converted to the field's type, or raises."""
    name = f"{section}.{key}"
    ok = False
    if field.kind == "int":
        ok = _is_int(value)
    elif field.kind == "float":
        ok = _is_int(value) or isinstance(value, float)
        if ok:
            value = float(value)
            ok = math.isfinite(value)
    elif field.kind == "bool":
        ok = isinstance(value, bool)
    elif field.kind == "str":
        ok = isinstance(value, str)
    elif field.kind == "int_list":
        ok = (
            isinstance(value, list)
            and len(value) > 0
            and all(_is_int(v) for v in value)
        )
        if ok:
            value = list(value)
    if ok and field.choices is not None:
        ok = value in field.choices
    if ok and field.low is not None:
        values = value if isinstance(value, list) else [value]
        ok = all(v >= field.low for v in values)
    if not ok:
        raise RecipeError(
            f"Recipe key {name}: expected {_type_name(field)}. "
            f"Received: {name}={value!r}"
        )
    return value


def _unknown_key(name: str, known) -> RecipeError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return RecipeError(
        f"Unknown recipe key {name}.{hint} Known keys: {', '.join(known)}."
    )


def parse_override(text: str) -> tuple[str, str, Any]:
    """Parses `section.key=value`; the value is read as TOML.

    `[64, 64]`, `true`, `1e-4` and `"text"` are typed TOML values; a value
    that is not valid TOML (a bare path such as `/data/kth`) is a string.

    Returns:
        `(section, key, value)`.
    """
    name, sep, raw = text.partition("=")
    name = name.strip()
    section, dot, key = name.partition(".")
    if not sep or not dot or not section or not key:
        raise RecipeError(
            "Expected an override of the form section.key=value, e.g. "
            f"model.num_hidden=[64,64]. Received: {text!r}"
        )
    raw = raw.strip()
    try:
        value = tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw
    return section, key, value


def _merge(base: dict, section: str, key: str, value):
    if section not in SCHEMA and section != "data":
        raise _unknown_key(section, [*SCHEMA, "data"])
    if section != "data" and key not in SCHEMA[section]:
        raise _unknown_key(
            f"{section}.{key}", [f"{section}.{k}" for k in SCHEMA[section]]
        )
    base.setdefault(section, {})[key] = value


def resolve(raw: dict) -> dict:
    """Checks a raw recipe and fills every default.

    Args:
        raw: nested dict of tables as read from TOML (plus overrides).

    Returns:
        The complete recipe: every key of `SCHEMA` with a checked value and
        the `[data]` table as given (its reader checks it).
    """
    for section, table in raw.items():
        if section not in SCHEMA and section != "data":
            raise _unknown_key(section, [*SCHEMA, "data"])
        if not isinstance(table, dict):
            raise RecipeError(
                f"Recipe entry {section} must be a table [{section}]. "
                f"Received: {section}={table!r}"
            )
    recipe = {}
    for section, fields in SCHEMA.items():
        given = dict(raw.get(section, {}))
        for key in given:
            if key not in fields:
                raise _unknown_key(
                    f"{section}.{key}", [f"{section}.{k}" for k in fields]
                )
        table = {}
        for key, field in fields.items():
            if key in given:
                table[key] = _check_value(section, key, field, given[key])
            else:
                table[key] = field.default
        recipe[section] = table
    model = recipe["model"]
    for key, value in VARIANT_DEFAULTS[model["variant"]].items():
        if model[key] is None:
            model[key] = value
    data = dict(raw.get("data", {}))
    _check_data_table(data)
    recipe["data"] = data
    _check_consistency(recipe)
    return recipe


def _check_data_table(data: dict) -> None:
    """Checks `kind` and the key names of `[data]` through the readers."""
    from predrnn_keras.data import DATA_KINDS
    from predrnn_keras.data import DataError
    from predrnn_keras.data import dataset_info

    if "kind" not in data:
        raise RecipeError(
            "Recipe key data.kind is missing: expected one of "
            + ", ".join(repr(k) for k in DATA_KINDS)
        )
    if data["kind"] not in DATA_KINDS:
        raise RecipeError(
            "Recipe key data.kind: expected one of "
            + ", ".join(repr(k) for k in DATA_KINDS)
            + f". Received: data.kind={data['kind']!r}"
        )
    try:
        dataset_info(data)
    except DataError:
        # A file that is not there yet: reported when the data is read.
        pass
    except ValueError as error:
        raise RecipeError(f"Recipe table [data]: {error}") from None


def _check_consistency(recipe: dict) -> None:
    model, train = recipe["model"], recipe["train"]
    if len(set(model["num_hidden"])) != 1:
        raise RecipeError(
            "Recipe key model.num_hidden: expected equal sizes in all layers "
            "(the zigzag memory passes between them). "
            f"Received: model.num_hidden={model['num_hidden']}"
        )
    if not model["r_sampling_step_1"] < model["r_sampling_step_2"]:
        raise RecipeError(
            "Recipe keys model.r_sampling_step_1 < model.r_sampling_step_2 "
            f"expected. Received: {model['r_sampling_step_1']} and "
            f"{model['r_sampling_step_2']}"
        )
    if not model["input_length"] < train["total_length"]:
        raise RecipeError(
            "Recipe keys model.input_length < train.total_length expected "
            "(at least one frame to predict). Received: "
            f"{model['input_length']} and {train['total_length']}"
        )
    image_size = recipe["data"].get("image_size")
    if image_size is not None:
        sizes = image_size if isinstance(image_size, list) else [image_size]
        if any(_is_int(s) and s % model["patch_size"] != 0 for s in sizes):
            raise RecipeError(
                "Recipe keys data.image_size and model.patch_size: the image "
                "size must be a multiple of the patch size. Received: "
                f"data.image_size={image_size}, "
                f"model.patch_size={model['patch_size']}"
            )


def load_recipe(
    path: "str | os.PathLike[str] | None" = None,
    overrides: "list[str] | tuple[str, ...]" = (),
) -> dict:
    """Reads a recipe file, applies `--set` overrides and checks the result.

    Args:
        path: a TOML recipe.
        overrides: strings `section.key=value` (value in TOML syntax).

    Returns:
        The complete recipe (see `resolve`).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise RecipeError(f"Recipe file not found: {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: not valid TOML: {error}") from None
    raw = {k: dict(v) if isinstance(v, dict) else v for k, v in raw.items()}
    for text in overrides:
        section, key, value = parse_override(text)
        _merge(raw, section, key, value)
    recipe = resolve(raw)
    return recipe


def recipe_from_dict(raw: dict) -> dict:
    """`resolve` for a recipe given as a dict (tests, notebooks)."""
    return resolve({k: dict(v) for k, v in raw.items()})


# Writing ------------------------------------------------------------------


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_int(value):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, (str, os.PathLike)):
        text = os.fspath(value)
        escaped = (
            text.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("\n", "\\n")
            .replace("\t", "\\t")
        )
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) as TOML")


def dumps_recipe(recipe: dict) -> str:
    """The recipe as TOML text (tables in a fixed order)."""
    lines = []
    order = ["model", "data", "train", "distribution", "evaluate"]
    for section in order + [s for s in recipe if s not in order]:
        table = recipe.get(section)
        if not isinstance(table, dict):
            continue
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def dump_recipe(recipe: dict, path: "str | os.PathLike[str]") -> None:
    """Writes the recipe as TOML, atomically (temporary file, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        f.write(dumps_recipe(recipe))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def recipe_differences(a: dict, b: dict, sections=("model", "data", "train")):
    """Names the keys of `sections` whose values differ between recipes."""
    names = []
    for section in sections:
        ta, tb = a.get(section, {}), b.get(section, {})
        for key in sorted(set(ta) | set(tb)):
            if ta.get(key) != tb.get(key):
                names.append(
                    f"{section}.{key} ({ta.get(key, 'unset')!r} -> "
                    f"{tb.get(key, 'unset')!r})"
                )
    return names


# Using ------------------------------------------------------------------


def model_kwargs(recipe: dict) -> dict:
    """The constructor arguments of the model class (without `variant`)."""
    kwargs = {k: v for k, v in recipe["model"].items() if k != "variant"}
    kwargs["seed"] = recipe["train"]["seed"]
    # The Keras dtype policy: "mixed_bfloat16" keeps float32 weights.
    kwargs["dtype"] = recipe["train"]["precision"]
    return kwargs


def build_model(recipe: dict, frame_shape=None, compile: bool = True):
    """Builds (and compiles) the model a recipe describes.

    Args:
        recipe: a complete recipe.
        frame_shape: `(height, width, channels)`; by default
            `recipe_frame_shape(recipe)`.
        compile: compile with Adam at `train.learning_rate`.

    Returns:
        A built `PredRNN` or `PredRNNV2`.
    """
    import keras

    from predrnn_keras.models import PredRNN
    from predrnn_keras.models import PredRNNV2

    cls = PredRNNV2 if recipe["model"]["variant"] == "predrnn_v2" else PredRNN
    model = cls(**model_kwargs(recipe))
    if frame_shape is None:
        frame_shape = recipe_frame_shape(recipe)
    model.build((None, recipe["train"]["total_length"], *frame_shape))
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(recipe["train"]["learning_rate"])
        )
    return model


def recipe_frame_shape(
    recipe: dict, missing_ok: bool = False
) -> tuple[int, int, int]:
    """`(height, width, channels)` of the frames of the recipe's data.

    Read from the `[data]` table (and at most a file header), without
    reading frames.

    Args:
        recipe: a complete recipe.
        missing_ok: when the data file is not there, assume
            `data.image_size` (default 64) and one channel instead of
            raising (to build a model without its data).
    """
    from predrnn_keras.data import DataError
    from predrnn_keras.data import dataset_info

    try:
        return dataset_info(recipe["data"]).frame_shape
    except DataError:
        if not missing_ok:
            raise
    size = recipe["data"].get("image_size", 64)
    height, width = (size, size) if _is_int(size) else tuple(size)
    return int(height), int(width), 1


def check_frame_shape(recipe: dict, frame_shape) -> None:
    """Raises `RecipeError` when the patch size does not divide the frames."""
    p = recipe["model"]["patch_size"]
    height, width = frame_shape[:2]
    if height % p or width % p:
        raise RecipeError(
            f"Recipe key model.patch_size={p} must divide the frame size "
            f"{height}x{width} (data.image_size)."
        )
