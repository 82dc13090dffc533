"""Builds a Keras PredRNN / PredRNN-V2 holding a reference checkpoint."""

import os
import re
from typing import Any
from typing import Mapping

import numpy as np

from predrnn_keras.convert.hyperparameters import infer_architecture
from predrnn_keras.convert.hyperparameters import resolve_hyperparameters
from predrnn_keras.convert.reference_checkpoint import ADAPTER
from predrnn_keras.convert.reference_checkpoint import CONVS
from predrnn_keras.convert.reference_checkpoint import HEAD
from predrnn_keras.convert.reference_checkpoint import ConversionError
from predrnn_keras.convert.reference_checkpoint import check_keys
from predrnn_keras.convert.reference_checkpoint import check_shapes
from predrnn_keras.convert.reference_checkpoint import load_reference_state_dict
from predrnn_keras.convert.reference_checkpoint import reference_shapes
from predrnn_keras.convert.reference_checkpoint import strip_prefix
from predrnn_keras.convert.reference_checkpoint import to_numpy
from predrnn_keras.models.predrnn import PredRNN
from predrnn_keras.models.variants import model_class
from predrnn_keras.models.variants import model_defaults
from predrnn_keras.recipe_schema import DATA_SECTION
from predrnn_keras.recipe_schema import RecipeError
from predrnn_keras.recipe_schema import check_table
from predrnn_keras.recipe_schema import read_toml

_NORMS = {
    "conv_x": "norm_x",
    "conv_h": "norm_h",
    "conv_m": "norm_m",
    "conv_o": "norm_o",
}


def read_recipe(path: str | os.PathLike) -> tuple[dict, tuple, str | None]:
    """Reads what conversion needs from a recipe TOML file.

    Only the `[model]` table (checked by the recipe schema,
    `predrnn_keras.recipe_schema`) and the frame shape of the `[data]` table
    are read: its `image_size` and `channels`, else what the recipe's data
    reader reports (`predrnn_keras.data.dataset_info`, which reads file
    headers only) when its files are present. Other tables are ignored.

    Args:
        path: the recipe file.

    Returns:
        `(model_kwargs, image_shape, variant)`: the constructor arguments
        the recipe gives (the others are read from the tensors or take the
        model's defaults), `(height, width, channels)` with `None` for what
        the recipe does not say, and the variant (`None` when not named).
    """
    path = os.fspath(path)
    try:
        recipe = read_toml(path)
        model_kwargs = check_table("model", recipe.get("model", {}))
    except RecipeError as error:
        raise ConversionError(f"Cannot use the recipe {path!r}: {error}")
    variant = model_kwargs.pop("variant", None)
    data = recipe.get(DATA_SECTION, {})
    height = width = None
    if "image_size" in data:
        height, width = parse_image_size(
            data["image_size"], f"{path}: image_size"
        )
    channels = data.get("channels")
    if "kind" in data and (height is None or channels is None):
        height, width, channels = _frame_shape_of_data(
            data, (height, width, channels)
        )
    if height is not None and channels is None:
        channels = 1  # the data readers' default
    return model_kwargs, (height, width, channels), variant


def _frame_shape_of_data(data, shape):
    """Fills the frame shape from the recipe's data reader where it can."""
    try:
        from predrnn_keras.data import dataset_info

        info = dataset_info(data)
    except (ImportError, ValueError, OSError):
        # Data files that are not here: the user gives the size instead.
        return shape
    height, width, channels = shape
    if height is None:
        height, width = info.height, info.width
    return height, width, channels if channels is not None else info.channels


def _constructor_arguments():
    """The arguments `PredRNN` (and so `PredRNNV2`) accepts."""
    return set(model_defaults("predrnn"))


def parse_image_size(value, name):
    """`(height, width)` from one size, a pair, or text "64" / "120,160"."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, str):
        value = [part for part in re.split(r"[,x ]+", value.strip()) if part]
        if len(value) == 1:
            value = value * 2
    try:
        height, width = (int(size) for size in value)
    except (TypeError, ValueError):
        raise ConversionError(
            f"Expected {name} as one size or (height, width). "
            f"Received: {value!r}"
        ) from None
    if height < 1 or width < 1:
        raise ConversionError(f"Expected positive {name}. Received: {value!r}")
    return height, width


def convert_state_dict(
    state_dict: Mapping[str, Any],
    model_kwargs: Mapping[str, Any] | None = None,
    image_shape: tuple | None = None,
    *,
    variant: str | None = None,
) -> PredRNN:
    """Builds a Keras PredRNN / PredRNN-V2 holding a reference state_dict.

    Hyper-parameters given in `model_kwargs`, `image_shape` and `variant` are
    checked against the tensor shapes; those not given are read from them
    where they can be (layers, hidden channels, filter size, layer norm,
    variant, and with layer norm the frame size). Every other constructor
    argument in `model_kwargs` (`input_length`, sampling constants, ...) is
    passed on unchanged.

    Args:
        state_dict: the reference's parameters: torch tensors or arrays in
            PyTorch layout (`predrnn_keras.convert.reference_checkpoint`).
        model_kwargs: `PredRNN` constructor arguments (a recipe's `[model]`
            table, whose `variant` is accepted too).
        image_shape: `(height, width)` or `(height, width, channels)` of the
            frames; entries may be `None` (read from the tensors if they can
            be).
        variant: "predrnn" or "predrnn_v2"; `None` reads it from the tensors
            (the adapter of PredRNN-V2).

    Returns:
        A built `PredRNN` (`PredRNNV2` for PredRNN-V2 checkpoints) with the
        checkpoint's weights.

    Raises:
        ConversionError: hyper-parameters that do not fit the tensors, missing
            or unknown keys, or tensor shapes of no reference model.
    """
    arrays = strip_prefix(
        {str(key): to_numpy(key, value) for key, value in state_dict.items()}
    )
    accepted = _constructor_arguments()
    model_kwargs = dict(model_kwargs or {})
    # A recipe's [model] table names the variant among the arguments.
    table_variant = model_kwargs.pop("variant", None)
    if variant is None:
        variant = table_variant
    elif table_variant is not None and table_variant != variant:
        raise ConversionError(
            f"variant={variant!r} contradicts the model arguments' "
            f"variant={table_variant!r}."
        )
    unexpected = sorted(set(model_kwargs) - accepted)
    if unexpected:
        raise ConversionError(
            f"Unknown model arguments {unexpected}; PredRNN accepts "
            f"{sorted(accepted)}."
        )
    found = infer_architecture(
        {key: array.shape for key, array in arrays.items()}
    )
    kwargs, (height, width, channels), decoupling = resolve_hyperparameters(
        found, model_kwargs, image_shape, variant
    )
    patch = kwargs["patch_size"]
    grid = (height // patch, width // patch) if kwargs["layer_norm"] else None
    expected = reference_shapes(
        kwargs["num_hidden"],
        kwargs["filter_size"],
        patch * patch * channels,
        grid=grid,
        adapter=decoupling,
    )
    check_keys(arrays, expected)
    check_shapes(arrays, expected)

    model = model_class("predrnn_v2" if decoupling else "predrnn")(**kwargs)
    model.build((None, None, height, width, channels))
    _assign_weights(model, arrays)
    return model


def _kernel(array):
    # PyTorch (out, in, kh, kw) -> Keras (kh, kw, in, out).
    return np.transpose(array, (2, 3, 1, 0))


def _grid_parameter(array):
    # PyTorch LayerNorm over (channels, h, w) -> Keras over (h, w, channels).
    return np.transpose(array, (1, 2, 0))


def _assign_weights(model, arrays):
    cell = model.cell
    assigned = []

    def assign(variable, value):
        if tuple(variable.shape) != value.shape:
            raise AssertionError(
                f"{variable.path}: {tuple(variable.shape)} != {value.shape}"
            )
        variable.assign(value)
        assigned.append(variable)

    for index, layer in enumerate(cell.st_lstm_layers):
        prefix = f"cell_list.{index}"
        for gate in CONVS:
            assign(
                getattr(layer, gate).kernel,
                _kernel(arrays[f"{prefix}.{gate}.0.weight"]),
            )
            if layer.layer_norm:
                norm = getattr(layer, _NORMS[gate])
                assign(
                    norm.gamma,
                    _grid_parameter(arrays[f"{prefix}.{gate}.1.weight"]),
                )
                assign(
                    norm.beta,
                    _grid_parameter(arrays[f"{prefix}.{gate}.1.bias"]),
                )
        assign(
            layer.conv_last.kernel,
            _kernel(arrays[f"{prefix}.conv_last.weight"]),
        )
    assign(cell.head.kernel, _kernel(arrays[HEAD]))
    if cell.adapter is not None:
        assign(cell.adapter.kernel, _kernel(arrays[ADAPTER]))
    # Every trainable weight of the model must come from the checkpoint.
    left = {id(v) for v in model.trainable_weights} - {id(v) for v in assigned}
    if left or len(assigned) != len(arrays):
        raise AssertionError(
            "Conversion left weights unassigned: "
            f"{[v.path for v in model.trainable_weights if id(v) in left]}"
        )


def convert_checkpoint(
    path: str | os.PathLike,
    output: str | os.PathLike | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    image_shape: tuple | None = None,
    *,
    recipe: str | os.PathLike | None = None,
    variant: str | None = None,
    overwrite: bool = False,
) -> PredRNN:
    """Converts a reference checkpoint file and optionally saves it.

    Values in `model_kwargs`, `image_shape` and `variant` override those of
    the recipe.

    Args:
        path: the reference checkpoint (`model.ckpt-<iteration>`).
        output: where to write the `.keras` model; `None` writes nothing.
        model_kwargs: `PredRNN` constructor arguments.
        image_shape: `(height, width[, channels])`, entries may be `None`.
        recipe: a recipe TOML file (its `[model]` table and the `image_size`
            and `channels` of `[data]`).
        variant: "predrnn" or "predrnn_v2", or `None` to read it from the
            tensors.
        overwrite: whether an existing `output` may be replaced.

    Returns:
        The converted model.
    """
    if output is not None:
        output = os.fspath(output)
        if not output.endswith(".keras"):
            raise ConversionError(
                f"The output must be a .keras file. Received: {output!r}"
            )
        if os.path.exists(output) and not overwrite:
            raise ConversionError(
                f"{output!r} exists; pass overwrite=True (--overwrite) to "
                "replace it."
            )
    kwargs, shape, recipe_variant = {}, (None, None, None), None
    if recipe is not None:
        kwargs, shape, recipe_variant = read_recipe(recipe)
    model_kwargs = dict(model_kwargs or {})
    if variant is None:
        variant = model_kwargs.pop("variant", None)
    kwargs.update(model_kwargs)
    if image_shape is not None:
        given = (tuple(image_shape) + (None,) * 3)[:3]
        shape = tuple(
            new if new is not None else old for new, old in zip(given, shape)
        )
    variant = variant if variant is not None else recipe_variant
    state_dict = load_reference_state_dict(path)
    model = convert_state_dict(state_dict, kwargs, shape, variant=variant)
    if output is not None:
        directory = os.path.dirname(os.path.abspath(output))
        os.makedirs(directory, exist_ok=True)
        model.save(output)
    return model


def describe(model: PredRNN) -> str:
    """One line naming the architecture of a converted model."""
    name = "PredRNN-V2" if model.decoupling else "PredRNN"
    height, width, channels = model.frame_shape
    norm = ", layer norm" if model.layer_norm else ""
    return (
        f"{name}: {len(model.num_hidden)} x {model.num_hidden[0]} channels, "
        f"filter {model.filter_size}, patch {model.patch_size}, frames "
        f"{height}x{width}x{channels}{norm}"
    )
