"""Recipes: TOML files that hold every setting of a training run.

A recipe has the tables `[model]`, `[data]`, `[train]`, `[distribution]`
and `[evaluate]`; docs/recipes.md lists every key. The schema of all tables
but `[data]` is `predrnn_keras.recipe_schema`; the data readers check
`[data]`. `load_recipe` merges a file and `--set` overrides onto the
defaults and checks every value, so that a typo or a wrong type fails at
once with a message that names the key. The merged recipe is complete (no
value is left implicit) and `dump_recipe` writes it back as TOML into the
run folder; `build_model` builds the model it describes.

Example:

>>> recipe = load_recipe("recipes/quickstart.toml",
...                      ["model.num_hidden=[32, 32]", "train.iterations=10"])
>>> recipe["model"]["num_hidden"]
[32, 32]
"""

import datetime
import math
import os
import re
import tomllib
from pathlib import Path
from typing import Any

from predrnn_keras import forecasters
from predrnn_keras import hardware
from predrnn_keras.data import DataError
from predrnn_keras.data import dataset_info
from predrnn_keras.data import kinds
from predrnn_keras.models.variants import model_class
from predrnn_keras.recipe_schema import DATA_SECTION
from predrnn_keras.recipe_schema import DEFAULT_VARIANT
from predrnn_keras.recipe_schema import SCHEMA
from predrnn_keras.recipe_schema import SECTIONS
from predrnn_keras.recipe_schema import RecipeError
from predrnn_keras.recipe_schema import check_is_table
from predrnn_keras.recipe_schema import check_key
from predrnn_keras.recipe_schema import check_table
from predrnn_keras.recipe_schema import complete_table
from predrnn_keras.recipe_schema import is_int
from predrnn_keras.recipe_schema import read_toml
from predrnn_keras.utils import files

RECIPE_FILE = "recipe.toml"
# A TOML key that needs no quotes.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# Reading ----------------------------------------------------------------


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


def resolve(raw: dict) -> dict:
    """Checks a raw recipe and fills every default.

    Args:
        raw: nested dict of tables as read from TOML (plus overrides).

    Returns:
        The complete recipe: every key of `SCHEMA` with a checked value (a
        `[model]` key left out takes the default of the variant's
        constructor) and the `[data]` table as given (its reader checks it).
    """
    for section, table in raw.items():
        check_is_table(section, table)
    given = {
        section: check_table(section, raw.get(section, {}))
        for section in SCHEMA
    }
    variant = given["model"].get("variant", DEFAULT_VARIANT)
    recipe = {
        section: complete_table(section, table, variant)
        for section, table in given.items()
    }
    data = dict(raw.get(DATA_SECTION, {}))
    _check_data_table(data)
    recipe[DATA_SECTION] = data
    _check_consistency(recipe)
    return recipe


def _check_data_table(data: dict) -> None:
    """Checks `kind` and the key names of `[data]` through the readers."""
    known = ", ".join(repr(k) for k in kinds.names())
    if "kind" not in data:
        raise RecipeError(
            f"Recipe key data.kind is missing: expected one of {known}"
        )
    if data["kind"] not in kinds.names():
        raise RecipeError(
            f"Recipe key data.kind: expected one of {known}. "
            f"Received: data.kind={data['kind']!r}"
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
    context = recipe["data"].get("context_length")
    if context is not None and context != model["input_length"]:
        raise RecipeError(
            "Recipe keys data.context_length and model.input_length: "
            "expected the same number of context frames. Received: "
            f"{context} and {model['input_length']}"
        )
    image_size = recipe["data"].get("image_size")
    if image_size is not None:
        sizes = image_size if isinstance(image_size, list) else [image_size]
        if any(is_int(s) and s % model["patch_size"] != 0 for s in sizes):
            raise RecipeError(
                "Recipe keys data.image_size and model.patch_size: the image "
                "size must be a multiple of the patch size. Received: "
                f"data.image_size={image_size}, "
                f"model.patch_size={model['patch_size']}"
            )
    _check_loss(recipe)
    if train["init_continue"] and not train["init_from"]:
        raise RecipeError(
            "Recipe key train.init_continue=true needs train.init_from, the "
            "model to continue (train.py --init-from MODEL --continue)."
        )
    unknown = [
        name
        for name in recipe["evaluate"]["baselines"]
        if name not in forecasters.names()
    ]
    if unknown:
        raise RecipeError(
            "Recipe key evaluate.baselines: expected names of forecast "
            f"methods ({', '.join(forecasters.names())}). Received: "
            f"evaluate.baselines={recipe['evaluate']['baselines']}"
        )


def _check_loss(recipe: dict) -> None:
    """Checks `train.loss` with its thresholds and weights."""
    train = recipe["train"]
    thresholds, weights = train["loss_thresholds"], train["loss_weights"]
    received = (
        f"Received: train.loss={train['loss']!r}, "
        f"train.loss_thresholds={thresholds}, train.loss_weights={weights}"
    )
    if train["loss"] == "mse":
        if thresholds or weights:
            raise RecipeError(
                "Recipe keys train.loss_thresholds and train.loss_weights "
                f"must be empty with train.loss='mse'. {received}"
            )
        return
    if not thresholds or len(weights) != len(thresholds) + 1:
        raise RecipeError(
            "Recipe keys train.loss_thresholds and train.loss_weights: "
            "train.loss='balanced' expected at least one threshold and one "
            f"weight more than thresholds. {received}"
        )
    if any(a >= b for a, b in zip(thresholds, thresholds[1:])):
        raise RecipeError(
            "Recipe key train.loss_thresholds: expected strictly increasing "
            f"values. Received: train.loss_thresholds={thresholds}"
        )
    try:
        values = model_units(recipe["data"], thresholds)
    except RecipeError:
        raise
    except DataError:
        # A file that is not there yet: converted when the model is built.
        return
    except ValueError as error:
        raise RecipeError(
            f"Recipe key train.loss_thresholds: {error}"
        ) from None
    if any(a >= b for a, b in zip(values, values[1:])):
        raise RecipeError(
            "Recipe key train.loss_thresholds: distinct thresholds become "
            "equal model values through the data's transform. Received: "
            f"train.loss_thresholds={thresholds} -> {values}"
        )


def model_units(data_config: dict, values) -> list[float]:
    """Values in the data's units (`train.loss_thresholds`) as the model's.

    The data kind's transform converts them as it converts the frames: radar
    values in mm/h or dBZ become the model's [0, 1] values; the frames of
    image kinds are in [0, 1] already, so their values must be too.

    Args:
        data_config: the recipe's `[data]` table.
        values: numbers in the data's units.

    Returns:
        The values in the model's units, as floats.

    Raises:
        RecipeError: a value the data's transform refuses (for images, one
            outside [0, 1]).
    """
    values = [float(v) for v in values]
    if not values:
        return values
    transform = kinds.kind_of(data_config).transform(data_config)
    try:
        return [float(v) for v in transform.to_model_units(values)]
    except (TypeError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise RecipeError(
            f"Recipe key train.loss_thresholds: {error} (data.kind="
            f"{data_config.get('kind')!r}). Received: "
            f"train.loss_thresholds={values}"
        ) from None


def load_recipe(
    path: "str | os.PathLike[str] | None" = None,
    overrides: "list[str] | tuple[str, ...]" = (),
    init_model_table=None,
) -> dict:
    """Reads a recipe file, applies `--set` overrides and checks the result.

    Args:
        path: a TOML recipe.
        overrides: strings `section.key=value` (value in TOML syntax).
        init_model_table: for a recipe with `train.init_from`, a function
            `(init_from, init_continue) -> [model] table` of that model
            (`training.initial_model.model_table`): the keys the recipe
            leaves out of `[model]` are taken from it rather than from the
            defaults.

    Returns:
        The complete recipe (see `resolve`).
    """
    raw = _apply_overrides(read_toml(Path(path)), overrides)
    train = raw.get("train", {})
    if init_model_table is not None and isinstance(train, dict):
        init_from = train.get("init_from")
        if isinstance(init_from, str) and init_from:
            base = init_model_table(init_from, train.get("init_continue"))
            model = raw.get("model", {})
            if isinstance(model, dict):
                raw["model"] = {**base, **model}
    return resolve(raw)


def recipe_from_dict(raw: dict) -> dict:
    """`resolve` for a recipe given as a dict (tests, notebooks)."""
    return resolve({k: dict(v) for k, v in raw.items()})


def with_overrides(recipe: dict, overrides) -> dict:
    """A copy of `recipe` with `--set` overrides (`section.key=value`)
    applied and checked; `recipe` is unchanged."""
    raw = {k: dict(v) for k, v in recipe.items()}
    return resolve(_apply_overrides(raw, overrides))


def _apply_overrides(raw: dict, overrides) -> dict:
    for text in overrides:
        section, key, value = parse_override(text)
        check_key(section, key)
        raw.setdefault(section, {})[key] = value
    return raw


# Writing ------------------------------------------------------------------


def toml_value(value) -> str:
    """`value` written as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if is_int(value):
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
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{k if _BARE_KEY.fullmatch(str(k)) else toml_value(str(k))} = "
            f"{toml_value(v)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    raise TypeError(f"Cannot write {value!r} ({type(value).__name__}) as TOML")


def dumps_recipe(recipe: dict) -> str:
    """The recipe as TOML text (tables in a fixed order)."""
    lines = []
    order = list(SECTIONS)
    for section in order + [s for s in recipe if s not in order]:
        table = recipe.get(section)
        if not isinstance(table, dict):
            continue
        if lines:
            lines.append("")
        lines.append(f"[{section}]")
        for key, value in table.items():
            lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


def dump_recipe(recipe: dict, path: "str | os.PathLike[str]") -> None:
    """Writes the recipe as TOML, atomically (temporary file, then rename)."""
    files.write_text(path, dumps_recipe(recipe))


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
    """The constructor arguments of the recipe's model class.

    The `[model]` table without `variant`, the seed of `train.seed`, the
    loss of `train.loss`, `train.loss_thresholds` (in the model's units,
    `model_units`) and `train.loss_weights`, and the Keras dtype policy of
    `train.precision` ("mixed_bfloat16" keeps float32 weights; "auto" is
    decided for this machine, `resolve_precision`).
    """
    train = recipe["train"]
    kwargs = {k: v for k, v in recipe["model"].items() if k != "variant"}
    kwargs["seed"] = train["seed"]
    kwargs["loss"] = train["loss"]
    kwargs["loss_thresholds"] = model_units(
        recipe["data"], train["loss_thresholds"]
    )
    kwargs["loss_weights"] = list(train["loss_weights"])
    kwargs["dtype"] = resolve_precision(recipe)[0]["train"]["precision"]
    return kwargs


def resolve_precision(recipe: dict, saved: "dict | None" = None):
    """The recipe with `train.precision = "auto"` replaced by what it stands
    for on this machine (`training.hardware.decide_precision`).

    Args:
        recipe: a complete recipe.
        saved: the recipe of the run being resumed, whose precision "auto"
            keeps (a run goes on in the precision it started in).

    Returns:
        `(recipe, reason)`: a new recipe (or `recipe` itself when its
        precision is not "auto") and why that precision, or None.
    """
    if recipe["train"]["precision"] != "auto":
        return recipe, None
    if saved is not None and saved["train"]["precision"] != "auto":
        precision = saved["train"]["precision"]
        reason = "the precision the run started in"
    else:
        precision, reason = hardware.auto_precision()
    resolved = {**recipe, "train": {**recipe["train"], "precision": precision}}
    return resolved, reason


def build_model(
    recipe: dict,
    frame_shape=None,
    compile: bool = True,
    learning_rate: "float | None" = None,
):
    """Builds (and compiles) the model a recipe describes.

    Args:
        recipe: a complete recipe.
        frame_shape: `(height, width, channels)`; by default
            `recipe_frame_shape(recipe)`.
        compile: compile with Adam at `train.learning_rate`, following
            `train.learning_rate_schedule`.
        learning_rate: the initial learning rate instead of
            `train.learning_rate` (scaled for several replicas).

    Returns:
        A built `PredRNN` or `PredRNNV2`.
    """
    import keras

    model = model_class(recipe["model"]["variant"])(**model_kwargs(recipe))
    if frame_shape is None:
        frame_shape = recipe_frame_shape(recipe)
    model.build((None, recipe["train"]["total_length"], *frame_shape))
    if compile:
        model.compile(
            optimizer=keras.optimizers.Adam(
                learning_rate_schedule(recipe, learning_rate)
            )
        )
    return model


def learning_rate_schedule(recipe: dict, learning_rate=None):
    """Adam's learning rate for a recipe: a number, or a Keras schedule of
    the optimiser step.

    The cosine schedule spans every optimiser step of the run: one per
    iteration, two with `model.reverse_input`.
    """
    import keras

    train = recipe["train"]
    start = train["learning_rate"] if learning_rate is None else learning_rate
    if train["learning_rate_schedule"] == "constant":
        return start
    steps = train["iterations"] * (2 if recipe["model"]["reverse_input"] else 1)
    return keras.optimizers.schedules.CosineDecay(
        start,
        decay_steps=steps,
        alpha=train["final_learning_rate"] / train["learning_rate"],
    )


def optimizer_schedule(optimizer):
    """The learning-rate schedule `optimizer` was built with, or None for a
    constant rate.

    Read before `fit` on JAX, which detaches the optimiser's variables
    during it.
    """
    import keras

    rate = optimizer._learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return rate
    return None


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
    try:
        return dataset_info(recipe["data"]).frame_shape
    except DataError:
        if not missing_ok:
            raise
    size = recipe["data"].get("image_size", 64)
    height, width = (size, size) if is_int(size) else tuple(size)
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
