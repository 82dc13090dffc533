"""Tests of generated Moving MNIST (`kind = "moving_mnist"`)."""

import numpy as np
import pytest

from predrnn_keras.data import DataError
from predrnn_keras.data import build_dataset
from predrnn_keras.data import make_reader
from predrnn_keras.data.moving_mnist import EMBEDDED_DIGITS
from predrnn_keras.data.moving_mnist import SPEED_RANGE

DIGIT = 28


@pytest.fixture(autouse=True)
def no_keras_mnist(tmp_path, monkeypatch):
    """Hides any ~/.keras/datasets/mnist.npz so the embedded digits are used."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def batches(dataset, count):
    return [batch.numpy() for _, batch in zip(range(count), dataset)]


def block_digits(tmp_path, values=(255,)):
    """Writes an MNIST file whose digits are solid blocks of `values`."""
    digits = np.stack([np.full((DIGIT, DIGIT), v, np.uint8) for v in values])
    path = tmp_path / "blocks.npz"
    np.savez(path, x_train=digits, x_test=digits)
    return path


def test_default_batches_shape_range_and_motion():
    config = {"kind": "moving_mnist"}
    batch = batches(build_dataset(config, "train", batch_size=3), 1)[0]
    assert batch.shape == (3, 20, 64, 64, 1)
    assert batch.dtype == np.float32
    assert batch.min() == 0.0 and batch.max() == 1.0
    # Every sequence moves: consecutive frames differ.
    assert (np.abs(np.diff(batch, axis=1)).sum(axis=(2, 3, 4)) > 0).all()
    # Every training example is a new sequence.
    assert not np.array_equal(batch[0], batch[1])


def test_embedded_digits_are_real_mnist_and_split():
    with np.load(EMBEDDED_DIGITS) as archive:
        train, test = archive["x_train"], archive["x_test"]
        labels = archive["y_train"]
    assert train.shape == (1000, 28, 28) and test.shape == (500, 28, 28)
    assert np.bincount(labels).tolist() == [100] * 10
    # No digit image of the test set is in the training set.
    train_rows = {row.tobytes() for row in train}
    assert not any(row.tobytes() in train_rows for row in test)
    reader = make_reader({"kind": "moving_mnist"}, "test", 20)
    assert reader.name == str(EMBEDDED_DIGITS)
    assert len(reader.digits) == 500


def test_digits_stay_inside_and_bounce(tmp_path):
    config = {
        "kind": "moving_mnist",
        "num_digits": 1,
        "mnist_path": str(block_digits(tmp_path)),
    }
    reader = make_reader(config, "train", total_length=80, seed=3)
    for sequence in reader.read_batch(np.arange(6))[..., 0]:
        corners = []
        for frame in sequence:
            rows = np.flatnonzero(frame.any(axis=1))
            cols = np.flatnonzero(frame.any(axis=0))
            # The whole 28x28 digit is visible in every frame.
            assert len(rows) == DIGIT and len(cols) == DIGIT
            assert np.ptp(rows) == DIGIT - 1 and np.ptp(cols) == DIGIT - 1
            corners.append((rows[0], cols[0]))
        corners = np.array(corners)
        assert corners.min() >= 0 and corners.max() <= 64 - DIGIT
        steps = np.diff(corners, axis=0)
        assert np.abs(steps).max() <= np.ceil(SPEED_RANGE[1]) + 1
        # At >= 2 px/frame over 80 frames some axis must reverse direction.
        reversals = [np.any(np.diff(np.sign(s[s != 0])) != 0) for s in steps.T]
        assert any(reversals)


def test_frames_combine_by_pixelwise_maximum(tmp_path):
    config = {
        "kind": "moving_mnist",
        "num_digits": 3,
        "mnist_path": str(block_digits(tmp_path, (100, 200))),
    }
    batch = make_reader(config, "test", 20).read_batch(np.arange(8))
    # A sum would create other values where digits overlap.
    assert set(np.unique(np.rint(batch * 255))) <= {0.0, 100.0, 200.0}


def test_same_seed_same_batches_and_resume():
    config = {"kind": "moving_mnist", "image_size": 32, "digit_size": 14}
    first = batches(build_dataset(config, "train", 2, 6, seed=7), 4)
    again = batches(build_dataset(config, "train", 2, 6, seed=7), 4)
    other = batches(build_dataset(config, "train", 2, 6, seed=8), 1)
    resumed = batches(
        build_dataset(config, "train", 2, 6, seed=7, start_batch=3), 1
    )
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    assert np.array_equal(resumed[0], first[3])


def test_eval_sets_are_fixed_finite_and_distinct():
    config = {
        "kind": "moving_mnist",
        "num_sequences": 5,
        "image_size": 32,
        "digit_size": 14,
    }
    test = batches(build_dataset(config, "test", 2, 4, seed=1), 10)
    again = batches(build_dataset(config, "test", 2, 4, seed=2), 10)
    val = batches(build_dataset(config, "val", 2, 4), 10)
    assert [b.shape[0] for b in test] == [2, 2, 1]
    assert all(np.array_equal(a, b) for a, b in zip(test, again))
    assert not np.array_equal(test[0], val[0])
    other = batches(build_dataset({**config, "eval_seed": 1}, "test", 2, 4), 1)
    assert not np.array_equal(test[0], other[0])


def test_non_square_canvas_and_digit_resize():
    config = {
        "kind": "moving_mnist",
        "image_size": [48, 80],
        "digit_size": 20,
        "num_digits": 3,
    }
    batch = batches(build_dataset(config, "train", 2, 5), 1)[0]
    assert batch.shape == (2, 5, 48, 80, 1)


def test_keras_cache_is_used_when_present(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "datasets").mkdir(parents=True)
    np.savez(
        home / "datasets" / "mnist.npz",
        x_train=np.full((3, 28, 28), 9, np.uint8),
        x_test=np.full((2, 28, 28), 9, np.uint8),
    )
    monkeypatch.setenv("KERAS_HOME", str(home))
    reader = make_reader({"kind": "moving_mnist"}, "train", 4)
    assert reader.name == str(home / "datasets" / "mnist.npz")
    assert set(np.unique(np.rint(reader.read_batch([0]) * 255))) == {0, 9}


@pytest.mark.parametrize(
    "config, message",
    [
        (
            {"num_digits": 4},
            (
                "Expected [data] num_digits to be an integer from 1 to 3. "
                "Received: num_digits=4"
            ),
        ),
        (
            {"size": 64},
            (
                "Unknown key 'size' in the [data] table for "
                "kind='moving_mnist'. Accepted keys: kind, digit_size, "
                "eval_seed, image_size, mnist_path, num_digits, "
                "num_sequences, speed."
            ),
        ),
        (
            {"image_size": 28},
            "Expected [data] digit_size smaller than image_size",
        ),
        (
            {"image_size": [64, 0]},
            (
                "Expected [data] image_size to be a positive integer or a "
                "list [height, width] of them."
            ),
        ),
    ],
)
def test_bad_config_values(config, message):
    with pytest.raises(ValueError) as info:
        build_dataset({"kind": "moving_mnist", **config}, "train")
    assert message in str(info.value)


def test_bad_mnist_files(tmp_path):
    missing = tmp_path / "none.npz"
    with pytest.raises(DataError, match=f"^{missing}: file not found$"):
        make_reader(
            {"kind": "moving_mnist", "mnist_path": str(missing)}, "train"
        )
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError) as info:
        make_reader({"kind": "moving_mnist", "mnist_path": str(wrong)}, "val")
    assert str(info.value) == (
        f"{wrong}: no key 'x_test' (keys: images); expected an MNIST .npz "
        "with x_train and x_test"
    )
    flat = tmp_path / "flat.npz"
    np.savez(flat, x_train=np.zeros((2, 784), np.uint8), x_test=np.zeros(1))
    with pytest.raises(DataError, match="x_train is uint8 of shape"):
        make_reader({"kind": "moving_mnist", "mnist_path": str(flat)}, "train")


def test_patch_size_must_divide_frames():
    with pytest.raises(DataError) as info:
        build_dataset({"kind": "moving_mnist"}, "train", patch_size=5)
    assert str(info.value).endswith(
        "frames of 64x64 are not divisible by patch_size=5; set image_size "
        "in [data] to a multiple of it"
    )


def first_steps(config, count=300):
    """The displacement of one digit between frames 1 and 2 of `count`
    test sequences, in pixels (Euclidean)."""
    reader = make_reader(config, "test", total_length=2)
    steps = []
    for sequence in reader.read_batch(np.arange(count))[..., 0]:
        corners = [
            (np.flatnonzero(f.any(axis=1))[0], np.flatnonzero(f.any(axis=0))[0])
            for f in sequence
        ]
        steps.append(np.hypot(*np.subtract(corners[1], corners[0])))
    return np.array(steps)


@pytest.mark.parametrize("speed", [3.6, [1.0, 1.0], [4.0, 6.0]])
def test_speed_sets_the_displacement_per_frame(tmp_path, speed):
    config = {
        "kind": "moving_mnist",
        "num_digits": 1,
        "mnist_path": str(block_digits(tmp_path)),
        "num_sequences": 300,
        "speed": speed,
    }
    low, high = (speed, speed) if not isinstance(speed, list) else speed
    steps = first_steps(config)
    # Corners are whole pixels: each coordinate is off by at most 0.5, so a
    # step by at most sqrt(2); a bounce off a wall only shortens it.
    assert steps.max() <= high + np.sqrt(2)
    assert np.median(steps) == pytest.approx((low + high) / 2, abs=0.5)
    if low == high:
        assert np.mean(np.abs(steps - low) <= np.sqrt(2)) > 0.9


def test_default_speed_range_and_bad_speeds(tmp_path):
    config = {
        "kind": "moving_mnist",
        "num_digits": 1,
        "mnist_path": str(block_digits(tmp_path)),
        "num_sequences": 300,
    }
    steps = first_steps(config)
    assert steps.max() <= SPEED_RANGE[1] + np.sqrt(2)
    assert np.median(steps) == pytest.approx(sum(SPEED_RANGE) / 2, abs=0.5)
    for bad in (0, -1.0, [5.0, 2.0], [1.0], "fast", True):
        with pytest.raises(ValueError, match=r"\[data\] speed .*Received"):
            make_reader({**config, "speed": bad}, "test")
