"""Tests of the entry point `build_dataset`: argument and key checks, the
batching contract, `dataset_info`, the preparation command, and Keras
training on the pipeline under the current backend."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from predrnn_keras.data import data_kinds
from predrnn_keras.data import build_dataset
from predrnn_keras.data import dataset_info
from predrnn_keras.data import write_mnist_npz
from predrnn_keras.data.__main__ import main

SMALL_MNIST = {
    "kind": "moving_mnist",
    "image_size": 16,
    "digit_size": 8,
    "num_sequences": 5,
}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"config": {"kind": "mnist"}},
            (
                "Expected [data] kind to be one of moving_mnist, mnist_npz, "
                "mnist_npy, kth, frames, array, radar. Received: kind='mnist'"
            ),
        ),
        (
            {"split": "valid"},
            (
                "Expected split to be one of train, val, test. "
                "Received: split='valid'"
            ),
        ),
        (
            {"batch_size": 0},
            "Expected batch_size to be an integer >= 1. Received: batch_size=0",
        ),
        ({"seed": -1}, "Received: seed=-1"),
        ({"start_batch": 1.5}, "Received: start_batch=1.5"),
        ({"total_length": 1}, "Received: total_length=1"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"config": SMALL_MNIST, "split": "train", **kwargs}
    with pytest.raises(ValueError) as info:
        build_dataset(**arguments)
    assert message in str(info.value)
    with pytest.raises(TypeError, match="Received: list"):
        build_dataset(["moving_mnist"], "train")


@pytest.mark.parametrize("kind", data_kinds())
def test_unknown_keys_are_named_with_the_accepted_ones(kind):
    hint = "mnist_path" if kind == "moving_mnist" else "path"
    typo = hint.replace("path", "paht")
    with pytest.raises(ValueError) as info:
        build_dataset({"kind": kind, typo: "x"}, "test")
    message = str(info.value)
    assert message.startswith(
        f"Unknown key '{typo}' in the [data] table for kind='{kind}'. "
    )
    assert f"Did you mean '{hint}'? Accepted keys: kind, " in message
    assert "\n" not in message


def test_batching_contract():
    train = build_dataset(SMALL_MNIST, "train", batch_size=2, total_length=4)
    test = build_dataset(SMALL_MNIST, "test", batch_size=2, total_length=4)
    assert train.element_spec.shape.as_list() == [2, 4, 16, 16, 1]
    assert train.element_spec.dtype == tf.float32
    assert train.cardinality() == tf.data.INFINITE_CARDINALITY
    assert test.element_spec.shape.as_list() == [None, 4, 16, 16, 1]
    assert int(test.cardinality()) == 3
    assert [b.shape[0] for b in test] == [2, 2, 1]
    resumed = build_dataset(SMALL_MNIST, "test", 2, 4, start_batch=2)
    assert int(resumed.cardinality()) == 1
    assert np.array_equal(next(iter(resumed)), list(test)[2])
    beyond = build_dataset(SMALL_MNIST, "test", 2, 4, start_batch=9)
    assert list(beyond) == []


def test_dataset_info_reads_no_frames(tmp_path):
    assert dataset_info({"kind": "moving_mnist"}).frame_shape == (64, 64, 1)
    assert dataset_info({"kind": "kth", "path": "nowhere"}).frame_shape == (
        128,
        128,
        1,
    )
    write_mnist_npz(tmp_path / "m.npz", np.zeros((1, 3, 8, 6), np.uint8), 1)
    assert dataset_info(
        {"kind": "mnist_npz", "train_path": str(tmp_path / "m.npz")}
    ).frame_shape == (8, 6, 1)
    np.save(tmp_path / "t.npy", np.zeros((3, 2, 10, 12), np.uint8))
    assert dataset_info(
        {"kind": "mnist_npy", "path": str(tmp_path / "t.npy")}
    ).frame_shape == (10, 12, 1)
    np.save(tmp_path / "a.npy", np.zeros((2, 3, 5, 7, 4), np.uint8))
    assert dataset_info(
        {"kind": "array", "path": str(tmp_path / "a.npy")}
    ).frame_shape == (5, 7, 4)
    (tmp_path / "f" / "s").mkdir(parents=True)
    keras.utils.save_img(
        tmp_path / "f" / "s" / "0.png", np.zeros((9, 11, 3), np.uint8)
    )
    info = dataset_info({"kind": "frames", "path": str(tmp_path / "f")})
    assert (info.height, info.width, info.channels) == (9, 11, 3)
    with pytest.raises(ValueError, match="Unknown key 'frames'"):
        dataset_info({"kind": "array", "frames": 3})


def test_prepare_command_prints_each_split(tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.zeros((10, 4, 4, 4), np.uint8))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text(
        f'[data]\nkind = "array"\npath = "{tmp_path / "a.npy"}"\n'
    )
    assert main([str(recipe), "--total-length", "4"]) == 0
    out = capsys.readouterr().out
    assert "train: 8 sequences of 4 frames of 4x4x1" in out
    assert "test: 1 sequence of 4 frames of 4x4x1" in out
    assert (
        main(
            [
                "--kind",
                "array",
                "--path",
                str(tmp_path / "a.npy"),
                "--total-length",
                "5",
            ]
        )
        == 0
    )
    assert "sequences of 4 frames, fewer than total_length=5" in (
        capsys.readouterr().out
    )
    # Without --total-length, the recipe's train.total_length.
    recipe.write_text(
        recipe.read_text() + "\n[train]\ntotal_length = 3\n"
    )
    assert main([str(recipe)]) == 0
    assert "train: 8 sequences of 3 frames" in capsys.readouterr().out
    assert main([str(tmp_path / "missing.toml")]) == 2
    assert "Recipe file not found" in capsys.readouterr().err


def test_keras_trains_and_evaluates_on_the_pipeline():
    def pairs(batch):
        return batch[:, :-1], batch[:, 1:]

    model = keras.Sequential(
        [keras.Input((3, 16, 16, 1)), keras.layers.Conv3D(1, 1)]
    )
    model.compile(optimizer="sgd", loss="mse")
    train = build_dataset(SMALL_MNIST, "train", 2, 4).map(pairs)
    history = model.fit(
        train, steps_per_epoch=2, epochs=1, verbose=0, shuffle=False
    )
    assert np.isfinite(history.history["loss"][0])
    test = build_dataset(SMALL_MNIST, "test", 2, 4).map(pairs)
    assert np.isfinite(model.evaluate(test, verbose=0))
