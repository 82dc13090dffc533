"""Tests of the KTH action reader (`kind = "kth"`): the reference's PNG frame
tree and the official .avi videos, the person split, the sequence indexing
and the frame cache."""

import imageio
import imageio.v3 as iio
import numpy as np
import pytest

from predrnn_keras.data import DataError
from predrnn_keras.data import build_dataset
from predrnn_keras.data import decoding
from predrnn_keras.data import kth_sequence_starts
from predrnn_keras.data import make_reader

SIZE = 16
# Video -> frame numbers. Persons 01 and 02 are training persons, 17 and
# 18 test persons; person 17's video has a gap after frame 6.
TREE = {
    "person01_boxing_d1": list(range(1, 13)),
    "person17_boxing_d2": [*range(1, 7), *range(9, 15)],
    "person02_running_d1": list(range(1, 13)),
    "person18_running_d3": list(range(1, 11)),
}


def frame(video: str, number: int, size: int = SIZE) -> np.ndarray:
    """A grey frame unique to (video, number), with a spatial gradient."""
    base = 7 * int(video[6:8]) + 3 * number
    yy, xx = np.mgrid[:size, :size]
    return ((base + yy + 2 * xx) % 256).astype(np.uint8)


def write_tree(root, size=SIZE):
    for video, numbers in TREE.items():
        folder = root / video.split("_")[1] / video
        folder.mkdir(parents=True)
        for number in numbers:
            grey = frame(video, number, size)
            # The reference's frames are grey stored as RGB.
            iio.imwrite(
                folder / f"image_{number:04d}.png",
                np.repeat(grey[..., None], 3, axis=-1),
            )
    (root / "boxing" / "notes.txt").write_text("not a video")
    return root


def write_video(path, frames):
    writer = imageio.get_writer(
        path,
        format="FFMPEG",
        fps=25,
        codec="ffv1",
        pixelformat="gray",
        macro_block_size=1,
    )
    for grey in frames:
        writer.append_data(np.repeat(grey[..., None], 3, axis=-1))
    writer.close()


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "kth")


def config_for(root, tmp_path, **extra):
    return {
        "kind": "kth",
        "path": str(root),
        "image_size": SIZE,
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }


def expected_sequences(video, positions, length):
    numbers = TREE[video]
    return [
        np.stack([frame(video, numbers[p + k]) for k in range(length)])
        for p in positions
    ]


def test_sequence_starts_follow_the_reference_scan():
    consecutive = np.arange(1, 13)
    assert kth_sequence_starts(consecutive, 4, 4).tolist() == [0, 4, 8]
    assert kth_sequence_starts(consecutive, 4, 3).tolist() == [2, 5, 8]
    gap = np.array([1, 2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14])
    assert kth_sequence_starts(gap, 4, 4).tolist() == [2, 8]
    assert kth_sequence_starts(gap, 6, 6).tolist() == [0, 6]
    assert kth_sequence_starts(np.arange(1, 4), 4, 4).tolist() == []


def test_png_tree_split_indexing_and_values(tree, tmp_path, capsys):
    config = config_for(tree, tmp_path)
    test = np.concatenate(
        [b.numpy() for b in build_dataset(config, "test", 2, total_length=4)]
    )
    # Boxing: starts T apart (positions 2 and 8, around the gap); running:
    # 3 apart (0, 3, 6); videos ordered by action, person, scenario.
    expected = expected_sequences(
        "person17_boxing_d2", [2, 8], 4
    ) + expected_sequences("person18_running_d3", [0, 3, 6], 4)
    assert test.shape == (5, 4, SIZE, SIZE, 1)
    np.testing.assert_allclose(
        test[..., 0], np.stack(expected) / 255.0, atol=1e-7
    )
    train = make_reader(config, "train", 4)
    assert train.num_sequences == 6  # boxing 0, 4, 8; running 2, 5, 8.
    assert train.windows[:, 2].tolist() == [0, 4, 8, 2, 5, 8]
    out = capsys.readouterr().out
    assert "Decoding 4 clips once into the cache" in out
    assert (
        f"Data test: 5 sequences of 4 frames of 16x16x1 from {tree}, "
        "2 videos of persons 17-25"
    ) in out


def test_longer_test_sequences_come_from_the_same_cache(
    tree, tmp_path, monkeypatch, capsys
):
    config = config_for(tree, tmp_path)
    make_reader(config, "train", 4)

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(decoding, "read_image", no_decoding)
    capsys.readouterr()
    test = np.concatenate(
        [b.numpy() for b in build_dataset(config, "test", 8, total_length=6)]
    )
    assert "Decoding" not in capsys.readouterr().out
    expected = expected_sequences(
        "person17_boxing_d2", [0, 6], 6
    ) + expected_sequences("person18_running_d3", [1, 4], 6)
    np.testing.assert_allclose(
        test[..., 0], np.stack(expected) / 255.0, atol=1e-7
    )
    assert len(list((tmp_path / "cache").iterdir())) == 1


def test_frames_are_resized_like_the_reference(tmp_path):
    root = write_tree(tmp_path / "kth", size=2 * SIZE)
    files_before = sorted(p for p in root.rglob("*"))
    config = config_for(root, tmp_path)
    batch = make_reader(config, "test", 4).read_batch(np.array([0]))[0, ..., 0]
    # Halving with half-pixel bilinear sampling averages each 2x2 block.
    large = np.stack(
        [frame("person17_boxing_d2", n, 2 * SIZE) for n in (3, 4, 5, 6)]
    ).astype(np.float64)
    blocks = large.reshape(4, SIZE, 2, SIZE, 2).mean(axis=(2, 4))
    np.testing.assert_allclose(batch * 255, np.rint(blocks), atol=1e-4)
    assert sorted(p for p in root.rglob("*")) == files_before


def test_avi_videos_and_default_cache_dir(tmp_path, monkeypatch):
    root = tmp_path / "videos"
    (root / "walking").mkdir(parents=True)
    walking = [frame("person03_walking_d1", n) for n in range(1, 11)]
    jogging = [frame("person19_jogging_d4", n) for n in range(1, 9)]
    write_video(root / "walking" / "person03_walking_d1_uncomp.avi", walking)
    write_video(root / "person19_jogging_d4_uncomp.avi", jogging)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = {"kind": "kth", "path": str(root), "image_size": SIZE}
    train = make_reader(config, "train", 4)
    test = make_reader(config, "test", 4)
    # Walking: starts T apart from the end (2, 6); jogging 3 apart (1, 4).
    assert train.windows[:, 2].tolist() == [2, 6]
    assert test.windows[:, 2].tolist() == [1, 4]
    got = test.read_batch(np.arange(2))[..., 0]
    np.testing.assert_allclose(
        got, np.stack([jogging[1:5], jogging[4:8]]) / 255.0, atol=1e-7
    )
    assert any((tmp_path / "xdg" / "predrnn_keras").glob("kth-*/index.json"))


def test_kth_errors(tree, tmp_path):
    with pytest.raises(DataError, match="nowhere: folder not found$"):
        make_reader(config_for(tmp_path / "nowhere", tmp_path), "test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as info:
        make_reader(config_for(tmp_path / "empty", tmp_path), "test")
    assert str(info.value) == (
        f"{tmp_path / 'empty'}: no KTH video found; expected ACTION/"
        "personPP_ACTION_dS/image_NNNN.png frames or "
        "personPP_ACTION_dS_uncomp.avi files"
    )
    with pytest.raises(DataError) as info:
        make_reader(config_for(tree, tmp_path, test_persons=[20]), "test", 4)
    assert str(info.value) == (
        f"{tree}: the test split is empty: no video of persons 20 and "
        "actions boxing, handclapping, handwaving, jogging, running, "
        "walking has 4 consecutive frames"
    )
    with pytest.raises(DataError, match="not divisible by patch_size=4"):
        build_dataset(
            config_for(tree, tmp_path, image_size=18),
            "test",
            total_length=4,
            patch_size=4,
        )
    with pytest.raises(ValueError, match="Unknown key 'persons'"):
        make_reader(config_for(tree, tmp_path, persons=[1]), "test")
    with pytest.raises(
        ValueError, match="Received: actions=\\['boxing', " "'dancing'\\]"
    ):
        make_reader(
            config_for(tree, tmp_path, actions=["boxing", "dancing"]), "test"
        )


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "empty file (0 bytes); expected a video"),
        (
            b"RIFF not really a video" * 10,
            "unreadable video or no frames (Could not load meta information)",
        ),
    ],
)
def test_bad_videos(tmp_path, content, message):
    root = tmp_path / "videos"
    root.mkdir()
    video = root / "person05_boxing_d1_uncomp.avi"
    video.write_bytes(content)
    with pytest.raises(DataError) as info:
        make_reader(config_for(root, tmp_path), "train")
    assert str(info.value) == f"{video}: {message}"
