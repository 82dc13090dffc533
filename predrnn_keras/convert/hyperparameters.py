"""The hyper-parameters of a reference checkpoint.

`infer_architecture` reads what the tensor shapes say (layers, hidden
channels, kernel size, layer norm, the PredRNN-V2 adapter, and with layer
norm the frame grid); `resolve_hyperparameters` checks the user's values
against it and fills in the rest, one function per hyper-parameter, and
reports every mismatch at once.
"""

import math
import re

from predrnn_keras.convert.reference_checkpoint import ADAPTER
from predrnn_keras.convert.reference_checkpoint import CONVS
from predrnn_keras.convert.reference_checkpoint import HEAD
from predrnn_keras.convert.reference_checkpoint import KNOWN_KEY
from predrnn_keras.convert.reference_checkpoint import NORM_KEY
from predrnn_keras.convert.reference_checkpoint import ConversionError
from predrnn_keras.models.variants import VARIANTS
from predrnn_keras.models.variants import model_defaults


class _Found:
    """What one hyper-parameter's tensors say: the value and its witness."""

    def __init__(self, value, key, shape):
        self.value, self.key, self.shape = value, key, tuple(shape)

    def witness(self):
        return f"{self.key} has shape {self.shape}"


def infer_architecture(shapes):
    """Reads the architecture from the tensor shapes of a state_dict."""
    layers = _layers(shapes)
    found = {}
    found["num_layers"] = _Found(
        max(layers) + 1, f"cell_list.{max(layers)}.*", ()
    )
    found["hidden"] = _first(
        shapes,
        [(f"cell_list.{l}.conv_h.0.weight", lambda s: s[1]) for l in layers]
        + [(f"cell_list.{l}.conv_m.0.weight", lambda s: s[1]) for l in layers]
        + [(f"cell_list.{l}.conv_last.weight", lambda s: s[0]) for l in layers]
        + [(f"cell_list.{l}.conv_o.0.weight", lambda s: s[0]) for l in layers]
        + [(HEAD, lambda s: s[1]), (ADAPTER, lambda s: s[0])],
    )
    found["filter_size"] = _first(
        shapes,
        [
            (f"cell_list.{l}.{gate}.0.weight", lambda s: s[2])
            for l in layers
            for gate in CONVS
        ],
    )
    found["frame_channels"] = _first(
        shapes,
        [
            ("cell_list.0.conv_x.0.weight", lambda s: s[1]),
            (HEAD, lambda s: s[0]),
        ],
    )
    found["layer_norm"], found["grid"] = _layer_norm_and_grid(shapes)
    found["adapter"] = _Found(
        ADAPTER in shapes, ADAPTER, shapes.get(ADAPTER, ())
    )
    for name in ("hidden", "filter_size", "frame_channels"):
        if found[name] is None:
            raise ConversionError(
                f"The checkpoint lacks every tensor from which {name} could be "
                f"read. Its keys: {sorted(shapes)}"
            )
    return found


def _layers(shapes):
    """The sorted indices `l` of the ST-LSTM layers (`cell_list.<l>.*`)."""
    layers = set()
    for key in shapes:
        match = KNOWN_KEY.match(key)
        if match and match.group("layer") is not None:
            layers.add(int(match.group("layer")))
    if not layers:
        raise ConversionError(
            "The checkpoint has no ST-LSTM tensors ('cell_list.<l>.*'): it is "
            "not a PredRNN / PredRNN-V2 checkpoint of the reference "
            f"implementation. Its first keys: {sorted(shapes)[:8]}"
        )
    return sorted(layers)


def _first(shapes, candidates):
    """A `_Found` from the first `(key, read)` whose key holds a 4-D
    tensor, `read` taking the value from its shape; None if none does."""
    for key, read in candidates:
        if key in shapes and len(shapes[key]) == 4:
            return _Found(read(shapes[key]), key, shapes[key])
    return None


def _layer_norm_and_grid(shapes):
    """`(layer_norm, grid)`: whether the checkpoint has layer-norm tensors,
    and the `(H/p, W/p)` grid their 3-D shape records (None without)."""
    norm_keys = sorted(key for key in shapes if NORM_KEY.match(key))
    layer_norm = _Found(
        bool(norm_keys),
        norm_keys[0] if norm_keys else "cell_list.<l>.conv_<g>.1.*",
        shapes[norm_keys[0]] if norm_keys else (),
    )
    grid = None
    norm_keys = [key for key in norm_keys if len(shapes[key]) == 3]
    if norm_keys:
        shape = shapes[norm_keys[0]]
        grid = _Found((shape[1], shape[2]), norm_keys[0], shape)
    return layer_norm, grid


def resolve_hyperparameters(found, model_kwargs, image_shape, variant):
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
    patch, channels = _patch_and_channels(
        found, kwargs.get("patch_size"), channels, height, problems
    )
    kwargs["patch_size"] = patch
    height, width = _frame_size(found, patch, height, width, problems)
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
        given = int_list(given, "num_hidden")
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
        `(patch, channels)`, each None where it cannot be read.
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
    return patch, channels


def _patch_for_channels(depth, channels):
    """The patch size p with p*p*channels == depth, or None."""
    if depth % channels:
        return None
    root = math.isqrt(depth // channels)
    return root if root * root * channels == depth else None


def _frame_size(found, patch, height, width, problems):
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
        if (variant == "predrnn_v2") != (beta > 0):
            problems.append(
                f"variant, decouple_beta: variant={variant!r} contradicts "
                f"decouple_beta={beta} (PredRNN-V2 is decouple_beta > 0)"
            )
    wants_v2 = None
    if variant is not None:
        wants_v2 = variant == "predrnn_v2"
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
                f"no memory-decoupling adapter '{ADAPTER}')"
            )
    if not adapter.value:
        return 0.0
    if beta is not None and beta > 0:
        return beta
    return model_defaults("predrnn_v2")["decouple_beta"]


def int_list(value, name):
    if isinstance(value, str):
        value = [part for part in re.split(r"[,\s]+", value) if part]
    try:
        return [int(item) for item in value]
    except (TypeError, ValueError):
        raise ConversionError(
            f"Expected {name} as a list of integers. Received: {value!r}"
        ) from None
