"""Converts the PyTorch reference's PredRNN checkpoints into Keras models.

The reference implementation saves `torch.save({"net_param": state_dict})`
to files named `model.ckpt-<iteration>`. This module reads such a file (or a
bare state_dict), checks it against the hyper-parameters the user gives,
infers those the tensors determine, copies every tensor into a `PredRNN` or
`PredRNNV2` (kernels from PyTorch's `(out, in, kh, kw)` to Keras'
`(kh, kw, in, out)`, layer-norm parameters from `(channels, h, w)` to
`(h, w, channels)`) and writes a `.keras` file.

Reference layout, for layer `l` of `L` with `N` hidden channels, kernel `k`,
patch size `p`, `C` frame channels and `C_in = p*p*C` for layer 0, `N` above:

    cell_list.{l}.conv_x.0.weight   (7N, C_in, k, k)
    cell_list.{l}.conv_h.0.weight   (4N, N, k, k)
    cell_list.{l}.conv_m.0.weight   (3N, N, k, k)
    cell_list.{l}.conv_o.0.weight   (N, 2N, k, k)
    cell_list.{l}.conv_last.weight  (N, 2N, 1, 1)
    cell_list.{l}.conv_{x,h,m,o}.1.{weight,bias}   (channels, H/p, W/p)
                                    only with layer norm
    conv_last.weight                (p*p*C, N, 1, 1)   the output head
    adapter.weight                  (N, N, 1, 1)       PredRNN-V2 only

The gates sit side by side in the output channels of conv_x, conv_h and
conv_m in the order of `predrnn_keras.layers.gate_layout`, which is the
reference's, so kernels are copied without reordering channels.

PyTorch is needed only to read the file; it is imported when a file is read.

Command line:

    python -m predrnn_keras.convert model.ckpt-80000 \\
        --recipe recipes/mnist_predrnn_v2.toml -o mnist_predrnn_v2.keras
"""

import argparse
import math
import os
import re
import sys
from typing import Any
from typing import Mapping

import numpy as np

from predrnn_keras.layers.gate_layout import GATES
from predrnn_keras.layers.gate_layout import output_channels
from predrnn_keras.models.predrnn import PredRNN
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_class
from predrnn_keras.models.variants import model_defaults
from predrnn_keras.recipe_schema import DATA_SECTION
from predrnn_keras.recipe_schema import RecipeError
from predrnn_keras.recipe_schema import check_table
from predrnn_keras.recipe_schema import read_toml

_V1, _V2 = "predrnn", "predrnn_v2"
# The ST-LSTM's convolutions: the gate convolutions, then the output gate's
# convolution of the memories.
_CONVS = (*GATES, "conv_o")
_NORMS = {
    "conv_x": "norm_x",
    "conv_h": "norm_h",
    "conv_m": "norm_m",
    "conv_o": "norm_o",
}
_KNOWN_KEY = re.compile(
    r"^(?:cell_list\.(?P<layer>0|[1-9]\d*)\."
    r"(?:conv_[xhmo]\.0\.weight|conv_[xhmo]\.1\.(?:weight|bias)"
    r"|conv_last\.weight)"
    r"|conv_last\.weight|adapter\.weight)$"
)
_NORM_KEY = re.compile(r"^cell_list\.\d+\.conv_[xhmo]\.1\.(?:weight|bias)$")
_HEAD = "conv_last.weight"
_ADAPTER = "adapter.weight"


class ConversionError(ValueError):
    """A checkpoint that cannot be converted, with the reason for the user."""


# Reading ------------------------------------------------------------------


def load_reference_state_dict(path: str | os.PathLike) -> dict:
    """Reads a reference checkpoint into a dict of float32 NumPy arrays.

    Accepts the reference's `{"net_param": state_dict}` and a bare
    state_dict. The file is read with `weights_only=True`: no code in it is
    run.

    Args:
        path: the checkpoint file, e.g. `model.ckpt-80000`.

    Returns:
        A dict from the reference's parameter names to arrays in PyTorch
        layout.

    Raises:
        ConversionError: PyTorch is not installed, the file is missing, is
            not a readable PyTorch checkpoint, or holds no state_dict.
    """
    path = os.fspath(path)
    try:
        import torch
    except ImportError as error:
        raise ConversionError(
            "Reading a PyTorch checkpoint needs PyTorch, which is not "
            "installed. It is needed only for this conversion: "
            "`pip install torch` (the CPU build is enough), convert, and the "
            "converted .keras model runs without it."
        ) from error
    if not os.path.isfile(path):
        raise ConversionError(f"No checkpoint file at {path!r}.")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a bad file.
        raise ConversionError(
            f"{path!r} is not a readable PyTorch checkpoint (truncated, "
            "corrupt, or not written by torch.save): torch.load failed with "
            f"{type(error).__name__}: {_first_line(error)}"
        ) from error
    return _state_dict_from(content, path)


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else "(no message)"


def _state_dict_from(content, path):
    state_dict = content
    if isinstance(content, Mapping) and "net_param" in content:
        state_dict = content["net_param"]
    problem = None
    if not isinstance(state_dict, Mapping) or not state_dict:
        problem = f"found a {type(state_dict).__name__}"
        if isinstance(state_dict, Mapping):
            problem = "found an empty dict"
    else:
        not_tensors = sorted(
            str(key)
            for key, value in state_dict.items()
            if not hasattr(value, "shape")
        )
        if not_tensors:
            problem = f"found entries that are not tensors: {not_tensors[:10]}"
    if problem:
        raise ConversionError(
            f"{path!r} holds no state_dict: expected "
            "{'net_param': state_dict} (as the reference saves it) or a "
            f"state_dict, {problem}."
        )
    return {
        str(key): _to_numpy(key, value) for key, value in state_dict.items()
    }


def _to_numpy(key, value):
    if hasattr(value, "detach"):  # a torch.Tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    try:
        array = np.asarray(value, dtype="float32")
    except (TypeError, ValueError) as error:
        raise ConversionError(
            f"The checkpoint entry {key!r} is not a tensor "
            f"(found {type(value).__name__})."
        ) from error
    return array


# Recipes --------------------------------------------------------------------


def read_recipe(path: str | os.PathLike) -> tuple[dict, tuple, str | None]:
    """Reads what conversion needs from a recipe TOML file.

    Only the `[model]` table (checked by the recipe schema,
    `predrnn_keras.recipe_schema`) and the frame shape of the `[data]` table
    are read: its
    `image_size` and `channels`, else what the recipe's data reader reports
    (`predrnn_keras.data.dataset_info`, which reads file headers only) when
    its files are present. Other tables and keys are ignored.

    Args:
        path: the recipe file.

    Returns:
        `(model_kwargs, image_shape, variant)`: the constructor arguments
        the recipe gives (the others are read from the tensors or take the
        model's defaults),
        `(height, width, channels)` with `None` for what the recipe does not
        say, and the variant (`None` when not named).
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
        height, width = _image_size(data["image_size"], f"{path}: image_size")
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
    return set(model_defaults(_V1))


def _image_size(value, name):
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


# The architecture read from the tensors -------------------------------------


class _Found:
    """What one hyper-parameter's tensors say: the value and its witness."""

    def __init__(self, value, key, shape):
        self.value, self.key, self.shape = value, key, tuple(shape)

    def witness(self):
        return f"{self.key} has shape {self.shape}"


def _infer(shapes):
    """Reads the architecture from the tensor shapes of a state_dict."""
    layer_keys = {}
    for key in shapes:
        match = _KNOWN_KEY.match(key)
        if match and match.group("layer") is not None:
            layer_keys.setdefault(int(match.group("layer")), []).append(key)
    if not layer_keys:
        raise ConversionError(
            "The checkpoint has no ST-LSTM tensors ('cell_list.<l>.*'): it is "
            "not a PredRNN / PredRNN-V2 checkpoint of the reference "
            f"implementation. Its first keys: {sorted(shapes)[:8]}"
        )
    found = {}
    found["num_layers"] = _Found(
        max(layer_keys) + 1, f"cell_list.{max(layer_keys)}.*", ()
    )

    def first(candidates):
        for key, read in candidates:
            if key in shapes and len(shapes[key]) == 4:
                return _Found(read(shapes[key]), key, shapes[key])
        return None

    layers = sorted(layer_keys)
    found["hidden"] = first(
        [(f"cell_list.{l}.conv_h.0.weight", lambda s: s[1]) for l in layers]
        + [(f"cell_list.{l}.conv_m.0.weight", lambda s: s[1]) for l in layers]
        + [(f"cell_list.{l}.conv_last.weight", lambda s: s[0]) for l in layers]
        + [(f"cell_list.{l}.conv_o.0.weight", lambda s: s[0]) for l in layers]
        + [(_HEAD, lambda s: s[1]), (_ADAPTER, lambda s: s[0])]
    )
    found["filter_size"] = first(
        [
            (f"cell_list.{l}.{gate}.0.weight", lambda s: s[2])
            for l in layers
            for gate in _CONVS
        ]
    )
    found["frame_channels"] = first(
        [
            ("cell_list.0.conv_x.0.weight", lambda s: s[1]),
            (_HEAD, lambda s: s[0]),
        ]
    )
    norm_keys = sorted(key for key in shapes if _NORM_KEY.match(key))
    found["layer_norm"] = _Found(
        bool(norm_keys),
        norm_keys[0] if norm_keys else "cell_list.<l>.conv_<g>.1.*",
        shapes[norm_keys[0]] if norm_keys else (),
    )
    found["grid"] = None
    norm_keys = [key for key in norm_keys if len(shapes[key]) == 3]
    if norm_keys:
        shape = shapes[norm_keys[0]]
        found["grid"] = _Found((shape[1], shape[2]), norm_keys[0], shape)
    found["adapter"] = _Found(
        _ADAPTER in shapes, _ADAPTER, shapes.get(_ADAPTER, ())
    )
    for name in ("hidden", "filter_size", "frame_channels"):
        if found[name] is None:
            raise ConversionError(
                f"The checkpoint lacks every tensor from which {name} could be "
                f"read. Its keys: {sorted(shapes)}"
            )
    return found


def _resolve(found, model_kwargs, image_shape, variant):
    """Checks the user's hyper-parameters against the tensors, fills the rest.

    Returns `(model_kwargs, frame_shape, decoupling)` or raises one
    ConversionError that lists every hyper-parameter that does not fit.
    """
    kwargs = dict(model_kwargs)
    height, width, channels = (tuple(image_shape or ()) + (None,) * 3)[:3]
    _check_positive_integers(
        ("patch_size", kwargs.get("patch_size")),
        ("filter_size", kwargs.get("filter_size")),
        ("image height", height),
        ("image width", width),
        ("channels", channels),
    )
    problems = []
    kwargs["num_hidden"] = _num_hidden(
        found, kwargs.get("num_hidden"), problems
    )
    kwargs["filter_size"] = _filter_size(
        found, kwargs.get("filter_size"), problems
    )
    kwargs["layer_norm"] = _layer_norm(
        found, kwargs.get("layer_norm"), problems
    )
    patch, channels, source = _patch_and_channels(
        found, kwargs.get("patch_size"), channels, height, problems
    )
    kwargs["patch_size"] = patch
    height, width = _image_size_of(
        found, patch, source, height, width, problems
    )
    kwargs["decouple_beta"] = _decoupling(
        found, variant, kwargs.get("decouple_beta"), problems
    )
    if problems:
        raise ConversionError(
            "The hyper-parameters do not fit the checkpoint's tensors:\n  - "
            + "\n  - ".join(problems)
        )
    return kwargs, (height, width, channels), found["adapter"].value


def _check_positive_integers(*named_values):
    for name, value in named_values:
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ConversionError(
                f"Expected {name} to be a positive integer. "
                f"Received: {value!r}"
            )


def _num_hidden(found, given, problems):
    """The hidden channels of each layer, checked against `given`."""
    num_layers = found["num_layers"].value
    hidden = found["hidden"]
    if given is not None:
        given = _int_list(given, "num_hidden")
        if len(given) != num_layers:
            problems.append(
                f"num_hidden: {given} has {len(given)} layer(s), the "
                f"checkpoint has {num_layers} (cell_list.0 .. "
                f"cell_list.{num_layers - 1})"
            )
        elif any(n != hidden.value for n in given):
            problems.append(
                f"num_hidden: {given} was given, the checkpoint's layers have "
                f"{hidden.value} hidden channels ({hidden.witness()})"
            )
    return [hidden.value] * num_layers


def _filter_size(found, given, problems):
    """The kernel size, checked against `given` and for an odd size."""
    kernel = found["filter_size"]
    if given is not None and given != kernel.value:
        problems.append(
            f"filter_size: {given} was given, the checkpoint's kernels are "
            f"{kernel.value}x{kernel.value} ({kernel.witness()})"
        )
    if kernel.value % 2 == 0:
        problems.append(
            f"filter_size: the checkpoint's kernels are {kernel.value}x"
            f"{kernel.value} ({kernel.witness()}); the reference pads by "
            "filter_size // 2, which keeps the frame size only for odd sizes"
        )
    return kernel.value


def _layer_norm(found, given, problems):
    """Whether the checkpoint has layer norm, checked against `given`."""
    norm = found["layer_norm"]
    if given is not None and bool(given) != norm.value:
        if norm.value:
            problems.append(
                f"layer_norm: {bool(given)} was given, the checkpoint has "
                f"layer-norm tensors ({norm.witness()})"
            )
        else:
            problems.append(
                f"layer_norm: {bool(given)} was given, the checkpoint has no "
                "layer-norm tensors (no 'cell_list.<l>.conv_<g>.1.weight')"
            )
    return norm.value


def _patch_and_channels(found, patch, channels, height, problems):
    """The patch size `p` and frame channels `C`, from what is given.

    They share the depth p*p*C of the patched frames: one determines the
    other; the image height and the layer-norm grid (H/p, W/p) determine p
    as well.

    Returns:
        `(patch, channels, source)`, `source` saying where `patch` came from
        (for the messages); `patch` is None where it cannot be read.
    """
    depth = found["frame_channels"]
    grid = found["grid"]
    source = "given"
    if patch is None and channels is not None:
        source = f"from channels={channels}"
        patch = _patch_for_channels(depth.value, channels)
        if patch is None:
            problems.append(
                f"channels: {channels} was given, but no patch size p gives "
                f"p*p*{channels} = {depth.value}, the channels of the "
                f"checkpoint's patched frames ({depth.witness()})"
            )
    elif patch is None and height is not None and grid is not None:
        source = "from image_size and the layer-norm grid"
        if height % grid.value[0] == 0:
            patch = height // grid.value[0]
    elif patch is None:
        # The recipes' default of one channel.
        source = "for one channel"
        patch = _patch_for_channels(depth.value, 1)
        if patch is None:
            problems.append(
                f"patch_size: cannot be read from the tensors: the patched "
                f"frames have p*p*C = {depth.value} channels "
                f"({depth.witness()}); give patch_size or channels"
            )
    if patch is not None and channels is None:
        if depth.value % (patch * patch) == 0:
            channels = depth.value // (patch * patch)
        else:
            problems.append(
                f"patch_size: {patch} ({source}) does not divide the patched "
                f"frame depth p*p*C = {depth.value} ({depth.witness()})"
            )
    if patch is not None and channels is not None:
        if patch * patch * channels != depth.value:
            problems.append(
                f"patch_size, channels: patch_size={patch} ({source}) and "
                f"channels={channels} give p*p*C = {patch * patch * channels}, "
                f"the checkpoint's patched frames have {depth.value} channels "
                f"({depth.witness()})"
            )
    return patch, channels, source


def _patch_for_channels(depth, channels):
    """The patch size p with p*p*channels == depth, or None."""
    if depth % channels:
        return None
    root = math.isqrt(depth // channels)
    return root if root * root * channels == depth else None


def _image_size_of(found, patch, source, height, width, problems):
    """The frame size, checked against the layer-norm grid and the patch."""
    grid = found["grid"]
    if patch is not None and grid is not None:
        grid_size = (grid.value[0] * patch, grid.value[1] * patch)
        if height is None:
            height, width = grid_size
        elif (height, width) != grid_size:
            problems.append(
                f"image_size: {height}x{width} was given, the layer-norm "
                f"tensors fit {grid_size[0]}x{grid_size[1]} frames with "
                f"patch_size={patch} ({grid.witness()}, i.e. H/p x W/p)"
            )
    if height is None and patch is not None:
        problems.append(
            "image_size: a checkpoint without layer norm does not record the "
            "frame size; give image_size (the recipe's [data] image_size, or "
            "--image-size)"
        )
    elif patch is not None and (height % patch or width % patch):
        problems.append(
            f"image_size: {height}x{width} is not a multiple of "
            f"patch_size={patch}"
        )
    return height, width


def _decoupling(found, variant, beta, problems):
    """`decouple_beta`, checked against the variant and the adapter.

    A PredRNN-V2 checkpoint (it has the adapter) without a given weight
    takes PredRNNV2's default; it only matters for further training.
    """
    adapter = found["adapter"]
    if variant is not None and variant not in VARIANTS:
        problems.append(
            f"variant: expected one of {VARIANTS}, received {variant!r}"
        )
        variant = None
    if variant is not None and beta is not None:
        if (variant == _V2) != (beta > 0):
            problems.append(
                f"variant, decouple_beta: variant={variant!r} contradicts "
                f"decouple_beta={beta} (PredRNN-V2 is decouple_beta > 0)"
            )
    wants_v2 = None
    if variant is not None:
        wants_v2 = variant == _V2
    elif beta is not None:
        wants_v2 = beta > 0
    if wants_v2 is not None and wants_v2 != adapter.value:
        said = (
            f"variant={variant!r}"
            if variant is not None
            else f"decouple_beta={beta}"
        )
        if adapter.value:
            problems.append(
                f"variant: {said} was given, the checkpoint is PredRNN-V2 (it "
                f"has the memory-decoupling adapter, {adapter.witness()})"
            )
        else:
            problems.append(
                f"variant: {said} was given, the checkpoint is PredRNN (it has "
                f"no memory-decoupling adapter '{_ADAPTER}')"
            )
    if not adapter.value:
        return 0.0
    if beta is not None and beta > 0:
        return beta
    return model_defaults(_V2)["decouple_beta"]


def _int_list(value, name):
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    try:
        return [int(item) for item in value]
    except (TypeError, ValueError):
        raise ConversionError(
            f"Expected {name} as a list of integers. Received: {value!r}"
        ) from None


def reference_shapes(
    num_hidden: list,
    filter_size: int,
    frame_depth: int,
    grid: tuple | None = None,
    adapter: bool = False,
) -> dict:
    """The reference state_dict's keys and PyTorch shapes for a model.

    Args:
        num_hidden: hidden channels of each layer (equal).
        filter_size: kernel size `k`.
        frame_depth: channels of the patched frames, `p * p * C`.
        grid: `(H/p, W/p)` with layer norm, `None` without.
        adapter: whether the PredRNN-V2 adapter is present.

    Returns:
        A dict from key to shape tuple, in the reference's order.
    """
    shapes = {}
    k = filter_size
    channels_in = frame_depth
    for index, n in enumerate(num_hidden):
        inputs = {"conv_x": channels_in, "conv_h": n, "conv_m": n}
        convs = {
            conv: (output_channels(conv, n), inputs[conv]) for conv in GATES
        }
        convs["conv_o"] = (n, 2 * n)
        for gate, (out, inp) in convs.items():
            shapes[f"cell_list.{index}.{gate}.0.weight"] = (out, inp, k, k)
            if grid is not None:
                for part in ("weight", "bias"):
                    shapes[f"cell_list.{index}.{gate}.1.{part}"] = (out, *grid)
        shapes[f"cell_list.{index}.conv_last.weight"] = (n, 2 * n, 1, 1)
        channels_in = n
    shapes[_HEAD] = (frame_depth, num_hidden[-1], 1, 1)
    if adapter:
        shapes[_ADAPTER] = (num_hidden[0], num_hidden[0], 1, 1)
    return shapes


def _check_keys(state_dict, expected):
    missing = [key for key in expected if key not in state_dict]
    unknown = sorted(key for key in state_dict if key not in expected)
    if not missing and not unknown:
        return
    parts = []
    if missing:
        parts.append(
            f"The checkpoint lacks {len(missing)} tensor(s) that the model "
            f"needs (missing keys): {missing}"
        )
    if unknown:
        parts.append(
            f"The checkpoint has {len(unknown)} tensor(s) that a reference "
            f"PredRNN / PredRNN-V2 of this shape does not (unknown keys): "
            f"{unknown}"
        )
    raise ConversionError(". ".join(parts) + ".")


def _check_shapes(state_dict, expected):
    problems = [
        f"{key}: expected {shape}, found {tuple(state_dict[key].shape)}"
        for key, shape in expected.items()
        if tuple(state_dict[key].shape) != shape
    ]
    if problems:
        raise ConversionError(
            "Tensor shapes do not fit one PredRNN (the reference needs equal "
            "hidden sizes in all layers and square kernels):\n  - "
            + "\n  - ".join(problems)
        )


# Conversion -----------------------------------------------------------------


def _strip_prefix(state_dict):
    # torch.nn.DataParallel saves every key with a "module." prefix.
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[7:]: value for key, value in state_dict.items()}
    return dict(state_dict)


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
            PyTorch layout (see the module docstring).
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
    arrays = _strip_prefix(
        {str(key): _to_numpy(key, value) for key, value in state_dict.items()}
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
    found = _infer({key: array.shape for key, array in arrays.items()})
    kwargs, (height, width, channels), decoupling = _resolve(
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
    _check_keys(arrays, expected)
    _check_shapes(arrays, expected)

    model = model_class(_V2 if decoupling else _V1)(**kwargs)
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
        for gate in _CONVS:
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
    assign(cell.head.kernel, _kernel(arrays[_HEAD]))
    if cell.adapter is not None:
        assign(cell.adapter.kernel, _kernel(arrays[_ADAPTER]))
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


# Command line -----------------------------------------------------------------


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
        "--input-length", type=int, help="context frames (default 10)"
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
        model_kwargs["num_hidden"] = _int_list(args.num_hidden, "--num-hidden")
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
            height, width = _image_size(args.image_size, "--image-size")
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


if __name__ == "__main__":
    sys.exit(main())
