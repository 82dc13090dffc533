"""Tests of the reader of the user's frame folders and videos
(`kind = "frames"`)."""

import imageio
import imageio.v3 as iio
import numpy as np
import pytest

from predrnn_keras.data import DataError
from predrnn_keras.data import build_dataset
from predrnn_keras.data import make_reader

HEIGHT, WIDTH = 12, 20


def rgb_frames(count, seed):
    return np.random.default_rng(seed).integers(
        0, 256, (count, HEIGHT, WIDTH, 3), dtype=np.uint8
    )


def write_folder(folder, frames, suffix=".png"):
    folder.mkdir(parents=True)
    for number, image in enumerate(frames):
        # Numbers without zero padding: natural order puts 2 before 10.
        iio.imwrite(folder / f"frame_{number}{suffix}", image)


def write_mp4(path, frames):
    writer = imageio.get_writer(
        path,
        format="FFMPEG",
        fps=10,
        codec="libx264rgb",
        pixelformat="rgb24",
        output_params=["-qp", "0"],
        macro_block_size=1,
    )
    for image in frames:
        writer.append_data(image)
    writer.close()


def config_for(path, tmp_path, **extra):
    return {
        "kind": "frames",
        "test_path": str(path),
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }


def test_rgb_non_square_folders_and_video(tmp_path):
    first, second, third = rgb_frames(12, 0), rgb_frames(5, 1), rgb_frames(6, 2)
    root = tmp_path / "camera"
    write_folder(root / "seq_a", first)
    write_folder(root / "seq_b", second)
    write_mp4(root / "seq_c.mp4", third)
    config = config_for(root, tmp_path, stride=3)
    got = np.concatenate(
        [b.numpy() for b in build_dataset(config, "test", 4, total_length=5)]
    )
    # seq_a: windows at 0, 3, 6; seq_b: 0; seq_c (lossless video): 0.
    expected = [first[0:5], first[3:8], first[6:11], second, third[:5]]
    assert got.shape == (5, 5, HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(got, np.stack(expected) / 255.0, atol=1e-7)


def test_one_folder_is_one_sequence_and_conversions(tmp_path):
    frames = rgb_frames(8, 3)
    write_folder(tmp_path / "radar", frames)
    config = config_for(
        tmp_path / "radar",
        tmp_path,
        channels=1,
        image_size=[HEIGHT // 2, WIDTH // 2],
        stride=1,
    )
    reader = make_reader(config, "test", 6)
    assert reader.num_sequences == 3
    assert reader.frame_shape == (HEIGHT // 2, WIDTH // 2, 1)
    batch = reader.read_batch(np.array([2]))[0, ..., 0]
    luma = np.rint(frames @ np.array([0.299, 0.587, 0.114]))
    blocks = luma.reshape(8, HEIGHT // 2, 2, WIDTH // 2, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(batch * 255, np.rint(blocks[2:8]), atol=1e-3)


def test_grey_16_bit_and_jpeg_frames(tmp_path):
    deep = np.random.default_rng(4).integers(0, 65536, (4, 6, 6), np.uint16)
    write_folder(tmp_path / "deep" / "s0", deep)
    reader = make_reader(config_for(tmp_path / "deep", tmp_path), "test", 4)
    np.testing.assert_allclose(
        reader.read_batch([0])[0, ..., 0], deep / 65535.0, atol=1e-7
    )
    smooth = np.full((4, 16, 16, 3), 120, np.uint8)
    write_folder(tmp_path / "jpeg" / "s0", smooth, suffix=".jpg")
    reader = make_reader(config_for(tmp_path / "jpeg", tmp_path), "test", 4)
    np.testing.assert_allclose(reader.read_batch([0]), 120 / 255.0, atol=0.02)


def test_split_fractions_over_sequences(tmp_path):
    root = tmp_path / "many"
    for number in range(10):
        write_folder(root / f"clip{number}", rgb_frames(2, number)[:, :4, :4])
    config = {
        "kind": "frames",
        "path": str(root),
        "cache_dir": str(tmp_path / "cache"),
    }
    counts = {
        s: make_reader(config, s, 2).num_sequences
        for s in ("train", "val", "test")
    }
    assert counts == {"train": 8, "val": 1, "test": 1}
    test = make_reader(config, "test", 2).read_batch([0])
    np.testing.assert_allclose(
        test[0], rgb_frames(2, 9)[:, :4, :4] / 255.0, atol=1e-7
    )


def test_frames_errors(tmp_path):
    mixed = tmp_path / "mixed" / "s0"
    write_folder(mixed, rgb_frames(3, 0))
    iio.imwrite(mixed / "frame_3.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(DataError) as info:
        make_reader(config_for(tmp_path / "mixed", tmp_path), "test", 2)
    assert str(info.value) == (
        f"{mixed / 'frame_3.png'}: frame of 8x8x3 uint8 (height x width x "
        "channels), but earlier frames are 12x20x3 uint8; set image_size "
        "and channels in [data] to convert all frames"
    )
    write_folder(tmp_path / "short" / "s0", rgb_frames(3, 0))
    with pytest.raises(DataError) as info:
        make_reader(config_for(tmp_path / "short", tmp_path), "test", 20)
    assert str(info.value) == (
        f"{tmp_path / 'short' / 's0'}: 3 frames, fewer than total_length=20, "
        "and no test sequence is longer"
    )
    (tmp_path / "nothing").mkdir()
    with pytest.raises(
        DataError,
        match="nothing: no sequence found; "
        "expected sub-folders of PNG/JPEG frames",
    ):
        make_reader(config_for(tmp_path / "nothing", tmp_path), "test")
    both = tmp_path / "both"
    write_folder(both / "s0", rgb_frames(2, 0))
    iio.imwrite(both / "frame_0.png", rgb_frames(1, 0)[0])
    with pytest.raises(
        DataError,
        match="both: holds both frame images "
        r"\(frame_0.png\) and sequences \(s0\)",
    ):
        make_reader(config_for(both, tmp_path), "test")
    broken = tmp_path / "broken" / "s0"
    broken.mkdir(parents=True)
    (broken / "frame_0.png").write_bytes(b"\x89PNG not an image")
    with pytest.raises(DataError, match="frame_0.png: unreadable image"):
        make_reader(config_for(tmp_path / "broken", tmp_path), "test", 2)
    with pytest.raises(DataError, match="missing: not found$"):
        make_reader(config_for(tmp_path / "missing", tmp_path), "test")
    with pytest.raises(ValueError, match="Received: channels=2"):
        make_reader(
            config_for(tmp_path / "short", tmp_path, channels=2), "test"
        )


def test_short_sequences_are_skipped_with_a_note(tmp_path, capsys):
    write_folder(tmp_path / "d" / "long", rgb_frames(6, 0))
    write_folder(tmp_path / "d" / "short", rgb_frames(2, 1))
    reader = make_reader(config_for(tmp_path / "d", tmp_path), "test", 4)
    assert reader.num_sequences == 1
    assert (
        "Note: skipped 1 of 2 test sequences with fewer than "
        "total_length=4 frames"
    ) in capsys.readouterr().out
