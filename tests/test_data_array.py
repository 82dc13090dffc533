"""Tests of the reader of the user's arrays (`kind = "array"`), and that
readers of large memory-mapped files hold no copy of them."""

import os

import numpy as np
import pytest

from predrnn_keras.data import DataError
from predrnn_keras.data import build_dataset
from predrnn_keras.data import make_reader


def collect(dataset):
    return np.concatenate([batch.numpy() for batch in dataset])


def test_rgb_non_square_windows_and_values(tmp_path):
    data = np.random.default_rng(0).integers(
        0, 256, (4, 9, 6, 10, 3), dtype=np.uint8
    )
    np.save(tmp_path / "seq.npy", data)
    config = {
        "kind": "array",
        "test_path": str(tmp_path / "seq.npy"),
        "stride": 2,
    }
    got = collect(build_dataset(config, "test", batch_size=3, total_length=4))
    # Windows start at 0, 2, 4 of each 9-frame sequence, in order.
    expected = (
        np.stack([data[n, s : s + 4] for n in range(4) for s in (0, 2, 4)])
        / 255.0
    )
    assert got.shape == (12, 4, 6, 10, 3)
    np.testing.assert_allclose(got, expected, atol=1e-7)


def test_four_dims_npz_key_uint16_and_split(tmp_path):
    data = np.arange(10 * 4 * 3 * 5, dtype=np.uint16).reshape(10, 4, 3, 5)
    np.savez(tmp_path / "radar.npz", echo=data * 100, times=np.arange(10))
    config = {
        "kind": "array",
        "path": str(tmp_path / "radar.npz"),
        "key": "echo",
        "split_fractions": [0.6, 0.2, 0.2],
    }
    test = collect(build_dataset(config, "test", total_length=4))
    np.testing.assert_allclose(
        test[..., 0], data[8:] * 100 / 65535.0, rtol=1e-6
    )
    val = make_reader(config, "val", 4)
    assert val.windows[:, 1].tolist() == [6, 7]
    assert make_reader(config, "train", 4).num_sequences == 6
    del config["key"]
    with pytest.raises(DataError) as info:
        make_reader(config, "train", 4)
    assert str(info.value) == (
        f"{tmp_path / 'radar.npz'}: holds 2 arrays (echo, times); set key in "
        "[data] to the one of the sequences"
    )


def test_value_range_and_float_checks(tmp_path):
    data = np.linspace(-10, 70, 2 * 3 * 2 * 2).reshape(2, 3, 2, 2)
    np.save(tmp_path / "dbz.npy", data.astype(np.float32))
    config = {"kind": "array", "test_path": str(tmp_path / "dbz.npy")}
    reader = make_reader({**config, "value_range": [0, 60]}, "test", 3)
    got = reader.read_batch(np.arange(2))[..., 0]
    np.testing.assert_allclose(got, np.clip(data / 60, 0, 1), atol=1e-6)
    with pytest.raises(DataError) as info:
        make_reader(config, "test", 3).read_batch(np.arange(2))
    # The first frame out of range, by file, sequence and frame.
    assert str(info.value) == (
        f"{tmp_path / 'dbz.npy'}: sequence 0, frame 0: values from -10 to "
        f"{data[0, 0].max():g} in float32 data; expected [0, 1], or set "
        "value_range = [low, high] in [data]"
    )
    np.save(tmp_path / "signed.npy", data.astype(np.int16))
    with pytest.raises(
        DataError,
        match="signed.npy: dtype int16 has no "
        r"implied value range; set value_range",
    ):
        make_reader(
            {"kind": "array", "test_path": str(tmp_path / "signed.npy")},
            "test",
            3,
        )


def test_same_seed_same_batches_and_resume(tmp_path):
    data = np.arange(7 * 2 * 2 * 2, dtype=np.uint8).reshape(7, 2, 2, 2)
    np.save(tmp_path / "a.npy", data)
    config = {"kind": "array", "train_path": str(tmp_path / "a.npy")}

    def take(seed, start_batch=0, count=6):
        dataset = build_dataset(
            config,
            "train",
            batch_size=3,
            total_length=2,
            seed=seed,
            start_batch=start_batch,
        )
        return [b.numpy() for _, b in zip(range(count), dataset)]

    first, again = take(1), take(1)
    assert all(b.shape == (3, 2, 2, 2, 1) for b in first)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, take(2)))
    # Batch 4 straddles the epoch boundary (positions 12-14 of 7 per epoch).
    assert np.array_equal(take(1, start_batch=4, count=1)[0], first[4])
    # Every epoch holds each sequence once.
    epoch = np.concatenate(first)[:7, 0, 0, 0, 0]
    assert sorted(np.rint(epoch * 255).astype(int)) == sorted(data[:, 0, 0, 0])


def test_array_errors(tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(DataError) as info:
        make_reader(
            {"kind": "array", "test_path": str(tmp_path / "flat.npy")}, "test"
        )
    assert str(info.value) == (
        f"{tmp_path / 'flat.npy'}: array of shape (4, 8, 8); expected "
        "sequences (N, T, H, W) or (N, T, H, W, C)"
    )
    np.save(tmp_path / "short.npy", np.zeros((4, 8, 8, 8), np.uint8))
    with pytest.raises(
        DataError,
        match="short.npy: sequences of 8 frames, "
        "fewer than total_length=20$",
    ):
        make_reader(
            {"kind": "array", "test_path": str(tmp_path / "short.npy")}, "test"
        )
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match="data.csv: expected an .npy or .npz"):
        make_reader(
            {"kind": "array", "test_path": str(tmp_path / "data.csv")}, "test"
        )
    with pytest.raises(
        ValueError,
        match="Unknown key 'image_size' in the "
        r"\[data\] table for kind='array'",
    ):
        make_reader(
            {"kind": "array", "path": "x.npy", "image_size": 64}, "test"
        )
    with pytest.raises(ValueError, match="either path or train_path"):
        make_reader(
            {"kind": "array", "path": "x.npy", "test_path": "y.npy"}, "test"
        )


def _peak_rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _reset_peak_rss():
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


@pytest.mark.skipif(
    not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux"
)
def test_reading_a_large_mapped_file_holds_no_copy(tmp_path):
    # A sparse 512 MiB time-first file: (20, 6400, 64, 64) uint8.
    path = tmp_path / "large.npy"
    shape = (20, 6400, 64, 64)
    with open(path, "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "|u1", "fortran_order": False, "shape": shape}
        )
        file.truncate(file.tell() + int(np.prod(shape)))
    config = {"kind": "mnist_npy", "path": str(path)}
    # Warm tf.data up before measuring.
    next(
        iter(
            build_dataset(
                {"kind": "moving_mnist", "image_size": 32, "digit_size": 8},
                "train",
                1,
                2,
            )
        )
    )
    _reset_peak_rss()
    before = _peak_rss_kib()
    dataset = build_dataset(config, "train", batch_size=8, seed=0)
    for _, batch in zip(range(20), dataset):
        assert batch.shape == (8, 20, 64, 64, 1)
    growth_mib = (_peak_rss_kib() - before) / 1024
    # 160 sequences (26 MiB of float32) were read from a 512 MiB file.
    assert growth_mib < 128, growth_mib


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinite_frames_are_named_when_read(tmp_path, bad):
    data = np.random.default_rng(0).uniform(0, 1, (3, 6, 4, 4))
    data[2, 4, 1, 2] = bad
    np.save(tmp_path / "clips.npy", data.astype(np.float32))
    config = {"kind": "array", "train_path": str(tmp_path / "clips.npy")}
    for value_range in (None, [0, 1]):
        reader = make_reader(
            {**config, "value_range": value_range} if value_range else config,
            "train",
            3,
        )
        reader.read_batch(np.arange(4))  # windows of sequences 0 and 1
        with pytest.raises(DataError) as info:
            reader.read_batch(np.arange(6))
        assert str(info.value) == (
            f"{tmp_path / 'clips.npy'}: sequence 2, frame 4: 1 NaN or "
            f"infinite value(s) (first {np.float32(bad)}); expected finite "
            "numbers"
        )


def test_the_first_constant_frame_is_reported(tmp_path, capsys):
    data = np.random.default_rng(0).integers(0, 255, (2, 6, 4, 4), np.uint8)
    data[1, 2] = 7
    data[1, 5] = 0
    np.save(tmp_path / "clips.npy", data)
    reader = make_reader(
        {"kind": "array", "train_path": str(tmp_path / "clips.npy")},
        "train",
        3,
    )
    reader.read_batch(np.arange(4))
    assert capsys.readouterr().err == (
        f"warning: {tmp_path / 'clips.npy'}: sequence 1, frame 2 is constant "
        "(every value 7): no motion to learn (further constant frames are "
        "not reported)\n"
    )
    reader.read_batch(np.arange(4))
    assert capsys.readouterr().err == ""
