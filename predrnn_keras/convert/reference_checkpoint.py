"""The reference's checkpoint files: reading one, the layout of its tensors.

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
"""

import os
import re
from typing import Mapping

import numpy as np

from predrnn_keras.layers.gate_layout import GATES
from predrnn_keras.layers.gate_layout import output_channels

# The ST-LSTM's convolutions: the gate convolutions, then the output gate's
# convolution of the memories.
CONVS = (*GATES, "conv_o")
KNOWN_KEY = re.compile(
    r"^(?:cell_list\.(?P<layer>0|[1-9]\d*)\."
    r"(?:conv_[xhmo]\.0\.weight|conv_[xhmo]\.1\.(?:weight|bias)"
    r"|conv_last\.weight)"
    r"|conv_last\.weight|adapter\.weight)$"
)
NORM_KEY = re.compile(r"^cell_list\.\d+\.conv_[xhmo]\.1\.(?:weight|bias)$")
HEAD = "conv_last.weight"
ADAPTER = "adapter.weight"


class ConversionError(ValueError):
    """A checkpoint that cannot be converted, with the reason for the user."""


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
    return {str(key): to_numpy(key, value) for key, value in state_dict.items()}


def to_numpy(key, value):
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


def strip_prefix(state_dict):
    # torch.nn.DataParallel saves every key with a "module." prefix.
    if state_dict and all(key.startswith("module.") for key in state_dict):
        return {key[7:]: value for key, value in state_dict.items()}
    return dict(state_dict)


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
    shapes[HEAD] = (frame_depth, num_hidden[-1], 1, 1)
    if adapter:
        shapes[ADAPTER] = (num_hidden[0], num_hidden[0], 1, 1)
    return shapes


def check_keys(state_dict, expected):
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


def check_shapes(state_dict, expected):
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
