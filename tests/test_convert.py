"""Tests of the PyTorch-checkpoint converter (`predrnn_keras.convert`).

The parity tests build a state_dict in the reference layout from random
tensors, save it as the reference does, convert it, reload the `.keras` file
and compare its predictions with an independent float64 NumPy forward pass
written channels-first, in the reference's own layout, from the same tensors.
"""

import collections
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from predrnn_keras import PredRNN
from predrnn_keras import PredRNNV2
from predrnn_keras.convert import ConversionError
from predrnn_keras.convert import convert_checkpoint
from predrnn_keras.convert import convert_state_dict
from predrnn_keras.convert import load_reference_state_dict
from predrnn_keras.convert import main
from predrnn_keras.convert import read_recipe
from predrnn_keras.layers.gate_layout import GATES
from predrnn_keras.layers.gate_layout import output_channels

torch = pytest.importorskip("torch")

NUM_HIDDEN = [4, 4]
FILTER_SIZE = 3
PATCH_SIZE = 2
INPUT_LENGTH = 3
TOTAL_LENGTH = 6
BATCH = 2
TOLERANCE = 1e-5

# (name, frame shape (H, W, C), layer_norm, PredRNN-V2)
CASES = [
    ("predrnn", (8, 8, 1), False, False),
    ("predrnn_layer_norm", (8, 12, 2), True, False),
    ("predrnn_v2", (8, 12, 2), False, True),
    ("predrnn_v2_layer_norm", (8, 8, 1), True, True),
]


# A reference-layout checkpoint ---------------------------------------------


def reference_state_dict(frame_shape, layer_norm, v2, seed=0):
    """Random tensors named and shaped as the reference model's state_dict."""
    height, width, channels = frame_shape
    p, k = PATCH_SIZE, FILTER_SIZE
    depth = p * p * channels
    generator = torch.Generator().manual_seed(seed)

    def kernel(out, inp, size):
        scale = 1.5 / np.sqrt(inp * size * size)
        return torch.randn(out, inp, size, size, generator=generator) * scale

    state = collections.OrderedDict()
    channels_in = depth
    for index, n in enumerate(NUM_HIDDEN):
        prefix = f"cell_list.{index}"
        inputs = {"conv_x": channels_in, "conv_h": n, "conv_m": n}
        convs = {
            conv: (output_channels(conv, n), inputs[conv]) for conv in GATES
        }
        convs["conv_o"] = (n, 2 * n)
        for gate, (out, inp) in convs.items():
            state[f"{prefix}.{gate}.0.weight"] = kernel(out, inp, k)
            if layer_norm:
                grid = (out, height // p, width // p)
                state[f"{prefix}.{gate}.1.weight"] = 1.0 + 0.3 * torch.randn(
                    *grid, generator=generator
                )
                state[f"{prefix}.{gate}.1.bias"] = 0.3 * torch.randn(
                    *grid, generator=generator
                )
        state[f"{prefix}.conv_last.weight"] = kernel(n, 2 * n, 1)
        channels_in = n
    state["conv_last.weight"] = kernel(depth, NUM_HIDDEN[-1], 1)
    if v2:
        state["adapter.weight"] = kernel(NUM_HIDDEN[0], NUM_HIDDEN[0], 1)
    return state


def save_reference(state, path):
    torch.save({"net_param": state}, path)
    return str(path)


def model_kwargs(v2=False):
    kwargs = {
        "num_hidden": NUM_HIDDEN,
        "filter_size": FILTER_SIZE,
        "patch_size": PATCH_SIZE,
        "input_length": INPUT_LENGTH,
    }
    if v2:
        kwargs["decouple_beta"] = 0.1
    return kwargs


# An independent NumPy forward pass, channels-first (the reference layout) ---


def conv2d(x, weight):
    """'same' convolution, stride 1, no bias: x (B, I, H, W), w (O, I, k, k)."""
    size = weight.shape[-1]
    pad = size // 2
    height, width = x.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((x.shape[0], weight.shape[0], height, width))
    for dy in range(size):
        for dx in range(size):
            window = padded[:, :, dy : dy + height, dx : dx + width]
            out += np.einsum("oi,bihw->bohw", weight[:, :, dy, dx], window)
    return out


def layer_norm(x, gamma, beta, epsilon=1e-5):
    """torch.nn.LayerNorm over (C, H, W): biased variance, epsilon 1e-5."""
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def st_lstm(weights, index, x, h, c, m, with_norm):
    """One ST-LSTM layer, channels-first (docs/method.md, "ST-LSTM")."""
    prefix = f"cell_list.{index}"

    def gate(name, inputs):
        out = conv2d(inputs, weights[f"{prefix}.{name}.0.weight"])
        if with_norm:
            out = layer_norm(
                out,
                weights[f"{prefix}.{name}.1.weight"],
                weights[f"{prefix}.{name}.1.bias"],
            )
        return out

    def split(conv, inputs):
        parts = np.split(gate(conv, inputs), len(GATES[conv]), 1)
        return dict(zip(GATES[conv], parts))

    gx, gh, gm = split("conv_x", x), split("conv_h", h), split("conv_m", m)
    i = sigmoid(gx["i"] + gh["i"])
    f = sigmoid(gx["f"] + gh["f"] + 1.0)
    g = np.tanh(gx["g"] + gh["g"])
    c_new = f * c + i * g
    i_m = sigmoid(gx["i_m"] + gm["i_m"])
    f_m = sigmoid(gx["f_m"] + gm["f_m"] + 1.0)
    g_m = np.tanh(gx["g_m"] + gm["g_m"])
    m_new = f_m * m + i_m * g_m
    memory = np.concatenate([c_new, m_new], axis=1)
    o = sigmoid(gx["o"] + gh["o"] + gate("conv_o", memory))
    h_new = o * np.tanh(conv2d(memory, weights[f"{prefix}.conv_last.weight"]))
    return h_new, c_new, m_new


def patch(frames, p):
    """docs/method.md, "Patching", then channels-first: (B, T, p*p*C, H/p,
    W/p)."""
    b, t, height, width, channels = frames.shape
    x = frames.reshape(b, t, height // p, p, width // p, p, channels)
    x = x.transpose(0, 1, 2, 4, 3, 5, 6)
    x = x.reshape(b, t, height // p, width // p, p * p * channels)
    return x.transpose(0, 1, 4, 2, 3)


def unpatch(patches, p):
    b, t, depth, rows, cols = patches.shape
    channels = depth // (p * p)
    x = patches.transpose(0, 1, 3, 4, 2)
    x = x.reshape(b, t, rows, cols, p, p, channels)
    x = x.transpose(0, 1, 2, 4, 3, 5, 6)
    return x.reshape(b, t, rows * p, cols * p, channels)


def reference_forward(state, frames, input_length, with_norm):
    """Predictions of frames 1..T-1 at test time (docs/method.md, "Zigzag
    memory flow" and "Prediction and training loss")."""
    weights = {key: value.double().numpy() for key, value in state.items()}
    num_layers = len(NUM_HIDDEN)
    inputs = patch(frames.astype("float64"), PATCH_SIZE)
    batch, steps, _, rows, cols = inputs.shape
    zeros = np.zeros((batch, NUM_HIDDEN[0], rows, cols))
    h = [zeros] * num_layers
    c = [zeros] * num_layers
    memory = zeros
    prediction = None
    predictions = []
    for t in range(steps - 1):
        net = inputs[:, t] if t < input_length else prediction
        for index in range(num_layers):
            x = net if index == 0 else h[index - 1]
            h[index], c[index], memory = st_lstm(
                weights, index, x, h[index], c[index], memory, with_norm
            )
        prediction = conv2d(h[-1], weights["conv_last.weight"])
        predictions.append(prediction)
    return unpatch(np.stack(predictions, axis=1), PATCH_SIZE)


# Parity ----------------------------------------------------------------------


def test_gate_layout_is_the_reference_order():
    # The reference's ST-LSTM splits each convolution's output with
    # torch.split(..., num_hidden, dim=1) into these gates, in this order.
    assert GATES == {
        "conv_x": ("i", "f", "g", "i_m", "f_m", "g_m", "o"),
        "conv_h": ("i", "f", "g", "o"),
        "conv_m": ("i_m", "f_m", "g_m"),
    }


@pytest.mark.parametrize(
    "frame_shape, with_norm, v2",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_predictions_match_numpy_reference(
    tmp_path, frame_shape, with_norm, v2
):
    state = reference_state_dict(frame_shape, with_norm, v2)
    checkpoint = save_reference(state, tmp_path / "model.ckpt-1000")
    output = tmp_path / "converted.keras"
    kwargs = model_kwargs(v2)
    kwargs["layer_norm"] = with_norm
    convert_checkpoint(checkpoint, output, kwargs, frame_shape)
    model = keras.saving.load_model(output)
    assert isinstance(model, PredRNNV2 if v2 else PredRNN)
    assert model.decoupling == v2
    assert model.layer_norm == with_norm

    rng = np.random.default_rng(1)
    frames = rng.random((BATCH, TOTAL_LENGTH) + frame_shape).astype("float32")
    expected = reference_forward(state, frames, INPUT_LENGTH, with_norm)
    # `predict` without a mask: the test-time mask, as an evaluation runs.
    predicted = model.predict(frames, verbose=0)
    assert predicted.shape == expected.shape
    difference = float(np.max(np.abs(predicted - expected)))
    print(
        f"\nparity[{keras.backend.backend()}] layer_norm={with_norm} v2={v2}: "
        f"max |keras - numpy| = {difference:.3g}"
    )
    np.testing.assert_allclose(predicted, expected, rtol=0, atol=TOLERANCE)

    # A rollout past the training length, from a context of another length.
    context = frames[:, :2]
    future = model.predict_future(context, horizon=5)
    padded = np.concatenate([context, np.zeros_like(frames[:, :5])], axis=1)
    expected = reference_forward(state, padded, 2, with_norm)[:, 1:]
    np.testing.assert_allclose(future, expected, rtol=0, atol=TOLERANCE)


def test_hyper_parameters_are_read_from_the_tensors(tmp_path):
    state = reference_state_dict((8, 12, 2), True, True)
    checkpoint = save_reference(state, tmp_path / "model.ckpt-5")
    # Layer norm records H/p x W/p; with the channel count everything else
    # follows from the tensors.
    model = convert_checkpoint(checkpoint, image_shape=(None, None, 2))
    assert isinstance(model, PredRNNV2)
    assert model.num_hidden == NUM_HIDDEN
    assert model.filter_size == FILTER_SIZE
    assert model.patch_size == PATCH_SIZE
    assert model.layer_norm
    assert model.frame_shape == (8, 12, 2)
    assert model.decouple_beta == 0.1


def test_bare_and_data_parallel_state_dicts(tmp_path):
    state = reference_state_dict((8, 8, 1), False, False)
    path = tmp_path / "bare.pt"
    torch.save({"module." + key: value for key, value in state.items()}, path)
    loaded = load_reference_state_dict(path)
    # A recipe's [model] table, variant included, is accepted as it is.
    table = {"variant": "predrnn", "input_length": 2}
    model = convert_state_dict(loaded, table, (8, 8))
    kernel = keras.ops.convert_to_numpy(
        model.cell.st_lstm_layers[1].conv_h.kernel
    )
    expected = state["cell_list.1.conv_h.0.weight"].numpy()
    np.testing.assert_array_equal(kernel, expected.transpose(2, 3, 1, 0))
    assert model.frame_shape == (8, 8, 1)
    assert model.input_length == 2


# The command --------------------------------------------------------------


def write_recipe(path, image_size="[8, 12]", channels=2):
    path.write_text(
        "[model]\n"
        'variant = "predrnn_v2"\n'
        "num_hidden = [4, 4]\n"
        "filter_size = 3\n"
        "patch_size = 2\n"
        "layer_norm = true\n"
        "input_length = 3\n"
        'sampling = "reverse"\n'
        "decouple_beta = 0.01\n"
        "[data]\n"
        f"image_size = {image_size}\n"
        f"channels = {channels}\n"
        'name = "kth"\n'
        "[train]\n"
        "learning_rate = 1e-4\n"
    )
    return str(path)


def test_command_with_recipe_and_overrides(tmp_path, capsys):
    state = reference_state_dict((8, 12, 2), True, True)
    checkpoint = save_reference(state, tmp_path / "model.ckpt-80000")
    recipe = write_recipe(tmp_path / "recipe.toml")
    output = str(tmp_path / "model.keras")
    argv = [checkpoint, "--recipe", recipe, "-o", output, "--input-length", "4"]
    assert main(argv) == 0
    assert "PredRNN-V2: 2 x 4 channels" in capsys.readouterr().out
    model = keras.saving.load_model(output)
    assert model.input_length == 4  # the flag wins over the recipe
    assert model.decouple_beta == 0.01
    assert model.sampling == "reverse"

    # An existing output is kept unless --overwrite is given.
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert output in error and "--overwrite" in error
    assert main(argv + ["--overwrite"]) == 0

    # A flag that does not fit the tensors is reported by the command.
    assert main([checkpoint, "--recipe", recipe, "--filter-size", "5"]) == 2
    assert "filter_size: 5 was given" in capsys.readouterr().err


def test_repository_recipe():
    path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        "recipes",
        "kth_predrnn_v2.toml",
    )
    if not os.path.exists(path):
        pytest.skip("no recipes/kth_predrnn_v2.toml")
    kwargs, image_shape, variant = read_recipe(path)
    assert variant == "predrnn_v2"
    assert image_shape == (128, 128, 1)
    assert kwargs["num_hidden"] == [128] * 4
    assert kwargs["patch_size"] == 4
    assert kwargs["decouple_beta"] == 0.01


def test_recipe_is_read_through_the_schema(tmp_path):
    path = tmp_path / "recipe.toml"
    path.write_text("[model]\nnum_hiden = [4, 4]\n")
    with pytest.raises(
        ConversionError,
        match=r"model\.num_hiden\. Did you mean model\.num_hidden",
    ):
        read_recipe(path)
    path.write_text('[model]\nfilter_size = "3"\n')
    with pytest.raises(ConversionError, match=r"model\.filter_size"):
        read_recipe(path)


# Errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, image_shape, message",
    [
        (
            {"num_hidden": [8, 8]},
            (8, 8, 1),
            r"num_hidden: \[8, 8\] was given, the checkpoint's layers have 4 "
            r"hidden channels \(cell_list.0.conv_h.0.weight has shape "
            r"\(16, 4, 3, 3\)\)",
        ),
        (
            {"num_hidden": [4, 4, 4]},
            (8, 8, 1),
            r"num_hidden: \[4, 4, 4\] has 3 layer\(s\), the checkpoint has 2",
        ),
        (
            {"filter_size": 5},
            (8, 8, 1),
            r"filter_size: 5 was given, the checkpoint's kernels are 3x3 "
            r"\(cell_list.0.conv_x.0.weight has shape \(28, 4, 3, 3\)\)",
        ),
        (
            {"patch_size": 4},
            (8, 8, 1),
            r"patch_size, channels: patch_size=4 \(given\) and channels=1 give "
            r"p\*p\*C = 16, the checkpoint's patched frames have 4 channels",
        ),
        (
            {"layer_norm": True},
            (8, 8, 1),
            r"layer_norm: True was given, the checkpoint has no layer-norm",
        ),
        (
            {"decouple_beta": 0.1},
            (8, 8, 1),
            r"variant: decouple_beta=0.1 was given, the checkpoint is PredRNN "
            r"\(it has no memory-decoupling adapter 'adapter.weight'\)",
        ),
        (
            {},
            (None, None, 1),
            r"image_size: a checkpoint without layer norm does not record",
        ),
    ],
    ids=[
        "hidden",
        "layers",
        "filter",
        "patch",
        "layer_norm",
        "variant",
        "image_size",
    ],
)
def test_wrong_hyper_parameters(kwargs, image_shape, message):
    state = reference_state_dict((8, 8, 1), False, False)
    with pytest.raises(ConversionError, match=message) as info:
        convert_state_dict(state, kwargs, image_shape)
    assert str(info.value).startswith("The hyper-parameters do not fit")


def test_wrong_variant_and_image_size_against_layer_norm():
    state = reference_state_dict((8, 12, 2), True, True)
    with pytest.raises(ConversionError) as info:
        convert_state_dict(state, {}, (16, 16, 2), variant="predrnn")
    message = str(info.value)
    assert "variant: variant='predrnn' was given, the checkpoint is " in message
    assert "PredRNN-V2" in message and "adapter.weight" in message
    assert "image_size: 16x16 was given, the layer-norm tensors fit 8x12" in (
        message
    )


def test_truncated_file(tmp_path):
    state = reference_state_dict((8, 8, 1), False, False)
    checkpoint = save_reference(state, tmp_path / "model.ckpt-1")
    data = open(checkpoint, "rb").read()
    truncated = tmp_path / "model.ckpt-2"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ConversionError, match="not a readable PyTorch") as info:
        convert_checkpoint(truncated, image_shape=(8, 8, 1))
    assert str(truncated) in str(info.value)


def test_file_without_state_dict(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"optimizer": {"lr": 0.1}}, path)
    with pytest.raises(ConversionError, match="holds no state_dict"):
        load_reference_state_dict(path)
    with pytest.raises(ConversionError, match="No checkpoint file"):
        load_reference_state_dict(tmp_path / "absent")


def test_missing_key(tmp_path):
    state = reference_state_dict((8, 8, 1), True, False)
    del state["cell_list.1.conv_m.0.weight"]
    del state["cell_list.0.conv_o.1.bias"]
    checkpoint = save_reference(state, tmp_path / "model.ckpt-3")
    with pytest.raises(ConversionError) as info:
        convert_checkpoint(checkpoint, image_shape=(8, 8, 1))
    message = str(info.value)
    assert "lacks 2 tensor(s)" in message and "missing keys" in message
    assert "'cell_list.0.conv_o.1.bias'" in message
    assert "'cell_list.1.conv_m.0.weight'" in message
    assert "unknown keys" not in message


def test_unknown_key():
    state = reference_state_dict((8, 8, 1), False, False)
    state["cell_list.0.conv_q.0.weight"] = torch.zeros(4, 4, 3, 3)
    state["fc.weight"] = torch.zeros(2, 2)
    with pytest.raises(ConversionError) as info:
        convert_state_dict(state, {}, (8, 8, 1))
    message = str(info.value)
    assert "unknown keys" in message and "missing keys" not in message
    assert "'cell_list.0.conv_q.0.weight', 'fc.weight'" in message


def test_inconsistent_tensor_shape():
    state = reference_state_dict((8, 8, 1), False, False)
    state["cell_list.1.conv_m.0.weight"] = torch.zeros(24, 8, 3, 3)
    with pytest.raises(ConversionError) as info:
        convert_state_dict(state, {}, (8, 8, 1))
    assert (
        "cell_list.1.conv_m.0.weight: expected (12, 4, 3, 3), "
        "found (24, 8, 3, 3)"
    ) in str(info.value)


def test_torch_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ConversionError, match=r"`pip install torch`"):
        load_reference_state_dict(tmp_path / "model.ckpt-1")


def test_import_does_not_need_torch():
    # `python -m predrnn_keras.convert --help` with torch unimportable. The
    # numpy backend keeps the subprocess quick and free of torch (the torch
    # backend would import it for Keras itself).
    code = (
        "import runpy, sys; sys.modules['torch'] = None; "
        "sys.argv = ['convert', '--help']; "
        "runpy.run_module('predrnn_keras.convert', run_name='__main__')"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND="numpy")
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--recipe" in result.stdout
