"""Tests of the Moving MNIST file readers (`mnist_npz`, `mnist_npy`) and
of `write_mnist_npz`."""

import numpy as np
import pytest

from predrnn_keras.data import DataError
from predrnn_keras.data import build_dataset
from predrnn_keras.data import make_reader
from predrnn_keras.data import write_mnist_npz


def collect(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def reference_npz(path, frames, input_length=10, total=20):
    """Writes frames (num_sequences * total, 1, H, W) float32 the way the
    reference's files are laid out, with np.savez."""
    count = len(frames) // total
    starts = np.arange(count, dtype=np.int32) * total
    clips = np.stack(
        [
            np.stack([starts, np.full(count, input_length)], -1),
            np.stack(
                [starts + input_length, np.full(count, total - input_length)],
                -1,
            ),
        ]
    ).astype(np.int32)
    dims = np.array([frames.shape[1:]], np.int32)
    np.savez(path, clips=clips, dims=dims, input_raw_data=frames)


def test_reference_npz_values_and_layout(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.random((6 * 20, 1, 16, 12), dtype=np.float32)
    reference_npz(tmp_path / "a.npz", frames)
    config = {"kind": "mnist_npz", "test_path": str(tmp_path / "a.npz")}
    got = collect(build_dataset(config, "test", batch_size=4))
    expected = frames.reshape(6, 20, 1, 16, 12).transpose(0, 1, 3, 4, 2)
    assert got.shape == (6, 20, 16, 12, 1)
    np.testing.assert_array_equal(got, expected)
    # val falls back to test_path, as the reference validates on it.
    np.testing.assert_array_equal(collect(build_dataset(config, "val")), got)


def test_two_npz_files_read_as_one(tmp_path):
    first = np.full((2 * 20, 1, 8, 8), 0.25, np.float32)
    second = np.full((3 * 20, 1, 8, 8), 0.75, np.float32)
    reference_npz(tmp_path / "a.npz", first)
    reference_npz(tmp_path / "b.npz", second)
    config = {
        "kind": "mnist_npz",
        "path": [str(tmp_path / "a.npz"), str(tmp_path / "b.npz")],
        "split_fractions": [0.0, 0.0, 1.0],
    }
    got = collect(build_dataset(config, "test", batch_size=2, total_length=20))
    assert got.shape == (5, 20, 8, 8, 1)
    assert got[:2].max() == 0.25 and got[2:].min() == 0.75


def test_writer_round_trip_and_clips(tmp_path):
    sequences = np.random.default_rng(1).integers(
        0, 256, (5, 12, 8, 6), dtype=np.uint8
    )
    path = tmp_path / "mine.npz"
    write_mnist_npz(path, sequences, input_length=4)
    with np.load(path) as archive:
        assert archive["clips"].dtype == np.int32
        assert archive["clips"][:, 1].tolist() == [[12, 4], [16, 8]]
        assert archive["dims"].tolist() == [[1, 8, 6]]
        assert archive["input_raw_data"].shape == (60, 1, 8, 6)
    config = {"kind": "mnist_npz", "test_path": str(path)}
    got = collect(build_dataset(config, "test", batch_size=2, total_length=12))
    np.testing.assert_allclose(got[..., 0], sequences / 255.0, atol=1e-7)
    with pytest.raises(FileExistsError):
        write_mnist_npz(path, sequences, 4)
    with pytest.raises(ValueError, match="Received: input_length=12"):
        write_mnist_npz(tmp_path / "x.npz", sequences, 12)
    with pytest.raises(ValueError, match="values from 2 to 2 in sequence 0"):
        write_mnist_npz(tmp_path / "y.npz", np.full((1, 3, 2, 2), 2.0), 1)
    assert not (tmp_path / "y.npz").exists()


def test_compressed_npz_is_read_with_a_note(tmp_path, capsys):
    frames = np.full((40, 1, 4, 4), 0.5, np.float32)
    reference_npz(tmp_path / "plain.npz", frames)
    with np.load(tmp_path / "plain.npz") as archive:
        np.savez_compressed(tmp_path / "small.npz", **archive)
    config = {"kind": "mnist_npz", "test_path": str(tmp_path / "small.npz")}
    assert collect(build_dataset(config, "test")).shape == (2, 20, 4, 4, 1)
    assert "is compressed and is loaded into memory" in capsys.readouterr().out


def test_npz_errors(tmp_path):
    frames = np.zeros((40, 1, 4, 4), np.float32)
    good = tmp_path / "good.npz"
    reference_npz(good, frames)
    config = {"kind": "mnist_npz", "test_path": str(good)}
    with pytest.raises(DataError) as info:
        make_reader(config, "test", total_length=30)
    assert str(info.value) == (
        f"{good}: sequences of 20 frames, fewer than total_length=30"
    )
    no_clips = tmp_path / "no_clips.npz"
    np.savez(no_clips, dims=np.array([[1, 4, 4]]), input_raw_data=frames)
    with pytest.raises(DataError) as info:
        make_reader({**config, "test_path": str(no_clips)}, "test")
    assert str(info.value) == (
        f"{no_clips}: no key 'clips' (keys: dims, input_raw_data); expected "
        "the reference Moving MNIST keys clips, dims, input_raw_data"
    )
    bad_dims = tmp_path / "bad_dims.npz"
    with np.load(good) as archive:
        np.savez(
            bad_dims,
            clips=archive["clips"],
            dims=np.array([[1, 8, 8]]),
            input_raw_data=frames,
        )
    with pytest.raises(
        DataError,
        match=r"dims \(1, 8, 8\) differ from the "
        r"frames of input_raw_data \(1, 4, 4\)",
    ):
        make_reader({**config, "test_path": str(bad_dims)}, "test")
    with pytest.raises(DataError, match="missing.npz: file not found$"):
        make_reader(
            {**config, "test_path": str(tmp_path / "missing.npz")}, "test"
        )
    with pytest.raises(ValueError, match="Expected \\[data\\] train_path"):
        make_reader(config, "train")


def test_time_first_npy_split_and_values(tmp_path):
    data = np.random.default_rng(2).integers(
        0, 256, (20, 10, 8, 8), dtype=np.uint8
    )
    np.save(tmp_path / "mnist_test_seq.npy", data)
    config = {"kind": "mnist_npy", "path": str(tmp_path / "mnist_test_seq.npy")}
    test = collect(build_dataset(config, "test", batch_size=4, total_length=10))
    val = collect(build_dataset(config, "val", total_length=20))
    # Default split_fractions [0.8, 0.1, 0.1]: sequences 0-7, 8, 9.
    expected = data[:10, 9:].transpose(1, 0, 2, 3)[..., None] / 255.0
    np.testing.assert_allclose(test, expected, atol=1e-7)
    np.testing.assert_allclose(val[0, ..., 0], data[:, 8] / 255.0, atol=1e-7)
    train = [
        b.numpy()
        for _, b in zip(
            range(5), build_dataset(config, "train", batch_size=4, seed=5)
        )
    ]
    seen = [
        [
            j
            for j in range(10)
            if np.array_equal(np.rint(s[..., 0] * 255), data[:, j])
        ]
        for batch in train
        for s in batch
    ]
    # Train takes sequences 0-7; 20 draws from 2.5 epochs cover them all.
    assert all(len(match) == 1 for match in seen)
    assert {match[0] for match in seen} == set(range(8))
    whole = {**config, "split_fractions": [0, 0, 1]}
    assert collect(build_dataset(whole, "test")).shape == (10, 20, 8, 8, 1)


def test_npy_errors(tmp_path):
    floats = tmp_path / "floats.npy"
    np.save(floats, np.zeros((20, 4, 8, 8), np.float32))
    with pytest.raises(DataError) as info:
        make_reader({"kind": "mnist_npy", "path": str(floats)}, "test")
    assert str(info.value) == (
        f"{floats}: float32 array of shape (20, 4, 8, 8); expected uint8 "
        "(T, num_sequences, height, width), time first"
    )
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((5, 10, 8, 8), np.uint8))
    with pytest.raises(
        DataError, match="sequences of 5 frames, fewer than " "total_length=20$"
    ):
        make_reader({"kind": "mnist_npy", "path": str(short)}, "test")
    five = tmp_path / "five.npy"
    np.save(five, np.zeros((20, 5, 8, 8), np.uint8))
    with pytest.raises(DataError) as info:
        make_reader({"kind": "mnist_npy", "path": str(five)}, "val")
    assert str(info.value) == (
        f"{five}: the val split is empty: it takes the share 0.8-0.9 of 5 "
        "sequences, which holds no sequence; change split_fractions or give "
        "val_path"
    )
    not_npy = tmp_path / "text.npy"
    not_npy.write_text("hello")
    with pytest.raises(DataError, match="text.npy: not a readable .npy array"):
        make_reader({"kind": "mnist_npy", "path": str(not_npy)}, "test")
    with pytest.raises(ValueError, match="Received: split_fractions="):
        make_reader(
            {
                "kind": "mnist_npy",
                "path": str(five),
                "split_fractions": [0.9, 0.2, 0.0],
            },
            "test",
        )
