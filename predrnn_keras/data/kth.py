"""The KTH action data set, from the reference's PNG frames or the videos.

KTH has 6 actions, 25 persons and 4 scenarios (d1-d4) of grey 160x120 video,
distributed as `personPP_ACTION_dS_uncomp.avi`. The reference reads frames
extracted to `ACTION/personPP_ACTION_dS/image_NNNN.png`. Either layout is
found under `path`, decoded once into a frame cache (grey, resized to
`image_size`, as the reference) and read from it by memory mapping.
"""

import dataclasses
import os
import re
from collections.abc import Mapping
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.frame_cache import Clip
from predrnn_keras.data.frame_cache import cache_frames
from predrnn_keras.data.window_reader import WindowReader

KTH_ACTIONS = (
    "boxing",
    "handclapping",
    "handwaving",
    "jogging",
    "running",
    "walking",
)
# Actions whose sequence starts are 3 frames apart; the others' are
# total_length apart (no overlap), as in the reference.
OVERLAPPING_ACTIONS = ("jogging", "running")
OVERLAP_STEP = 3
KEYS = {
    "path": config_checks.DataKey(
        "a path",
        None,
        "required: the reference's PNG frame tree or the folder of .avi files",
    ),
    "image_size": config_checks.DataKey(
        "an integer or [height, width]", 128, "frame size in pixels"
    ),
    "cache_dir": config_checks.CACHE_DIR,
    "actions": config_checks.DataKey(
        "a list of action names", list(KTH_ACTIONS), "the actions read"
    ),
    "train_persons": config_checks.DataKey(
        "a list of integers from 1 to 99",
        list(range(1, 17)),
        "the persons of the training split",
    ),
    "val_persons": config_checks.DataKey(
        "a list of integers from 1 to 99",
        None,
        "the persons of the validation split; default: test_persons, as the "
        "reference validates on its test set",
    ),
    "test_persons": config_checks.DataKey(
        "a list of integers from 1 to 99",
        list(range(17, 26)),
        "the persons of the test split",
    ),
}
_FOLDER = re.compile(r"person(\d\d)_([a-z]+)_d(\d)")
# The reference takes the frame number from characters 6-9: image_NNNN.png.
_FRAME = re.compile(r"image_(\d+)\.png")
_VIDEO = re.compile(r"person(\d\d)_([a-z]+)_d(\d)_uncomp\.avi")


@dataclasses.dataclass(frozen=True)
class KTHVideo:
    """One KTH video: who does what where, and its frames."""

    person: int
    action: str
    scenario: int
    clip: Clip


def find_kth_videos(root: Path) -> list[KTHVideo]:
    """Finds the KTH videos under `root`, as PNG frame folders or .avi files.

    Args:
        root: the folder that holds the action folders of PNG frames, or the
            .avi files (directly or in sub-folders).

    Returns:
        The videos sorted by action, person and scenario. Where both layouts
        are present, the PNG frames (what the reference reads).

    Raises:
        DataError: `root` is missing or holds no KTH video.
    """
    if not root.is_dir():
        raise DataError(root, "folder not found")
    folders, videos = [], []
    for directory, subdirectories, names in os.walk(root):
        subdirectories.sort()
        directory = Path(directory)
        match = _FOLDER.fullmatch(directory.name)
        if match and match.group(2) in KTH_ACTIONS:
            frames = sorted(
                (int(frame.group(1)), name)
                for name in names
                if (frame := _FRAME.fullmatch(name))
            )
            if frames:
                clip = Clip(
                    directory.name,
                    tuple(directory / name for _, name in frames),
                    tuple(number for number, _ in frames),
                )
                folders.append(_video(match, clip))
        for name in sorted(names):
            match = _VIDEO.fullmatch(name)
            if match and match.group(2) in KTH_ACTIONS:
                clip = Clip(
                    name.removesuffix("_uncomp.avi"), (directory / name,)
                )
                videos.append(_video(match, clip))
    if not folders and not videos:
        raise DataError(
            root,
            "no KTH video found; expected ACTION/personPP_ACTION_dS/"
            "image_NNNN.png frames or personPP_ACTION_dS_uncomp.avi files",
        )
    if folders and videos:
        print(f"Note: {root} holds PNG frames and videos; reading the frames.")
    return sorted(
        folders or videos, key=lambda v: (v.action, v.person, v.scenario)
    )


def _video(match: re.Match, clip: Clip) -> KTHVideo:
    return KTHVideo(
        int(match.group(1)), match.group(2), int(match.group(3)), clip
    )


def kth_sequence_starts(
    frame_numbers: np.ndarray, total_length: int, step: int
) -> np.ndarray:
    """Returns where the reference's sequences start within one video.

    The scan walks backwards from the video's last frame: where the
    `total_length` frames ending at the current frame have consecutive frame
    numbers they make a sequence and the scan moves `step` frames back
    (total_length: sequences do not overlap; 3 for jogging and running),
    and otherwise it moves one frame back.

    Args:
        frame_numbers: the sorted frame numbers of the video's frames.
        total_length: frames per sequence.
        step: frames between consecutive sequence starts.

    Returns:
        The positions (into `frame_numbers`) of the first frames, ascending.
    """
    starts = []
    end = len(frame_numbers) - 1
    while end >= total_length - 1:
        start = end - total_length + 1
        if frame_numbers[end] - frame_numbers[start] == total_length - 1:
            starts.append(start)
            end -= step
        else:
            end -= 1
    return np.array(starts[::-1], np.int64)


def _ranges(numbers: Sequence[int]) -> str:
    """Writes 1, 2, 3, 5 as "01-03, 05"."""
    runs, numbers = [], sorted(set(numbers))
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(
        f"{a:02d}" if a == b else f"{a:02d}-{b:02d}" for a, b in runs
    )


def kth_reader(config: Mapping, split: str, total_length: int) -> WindowReader:
    """Builds the KTH reader of a split.

    Config keys: `KEYS` (docs/recipes.md). The cache holds every video
    found, so all splits, action subsets and sequence lengths share one
    decoding.

    Args:
        config: the `[data]` table.
        split: "train", "val" or "test".
        total_length: frames per sequence (test may be longer than train:
            10 -> 20 evaluation reads 30-frame sequences).

    Returns:
        The reader.

    Raises:
        DataError: no KTH video, an unreadable file, or an empty split.
    """
    config_checks.check_keys(config, "kth", KEYS)
    root = config_checks.get_path(config)
    image_size = config_checks.get_image_size(
        config, KEYS["image_size"].default
    )
    actions = config_checks.get_str_list(config, "actions", KTH_ACTIONS)
    test = config_checks.get_int_list(
        config, "test_persons", KEYS["test_persons"].default, 1, 99
    )
    persons = {
        "train": config_checks.get_int_list(
            config, "train_persons", KEYS["train_persons"].default, 1, 99
        ),
        "val": config_checks.get_int_list(config, "val_persons", test, 1, 99),
        "test": test,
    }[split]
    cache_dir = (
        config_checks.get_path(config, "cache_dir")
        if config.get("cache_dir") is not None
        else None
    )
    videos = find_kth_videos(root)
    cached = cache_frames(
        [video.clip for video in videos], cache_dir, "kth", image_size, 1
    )
    arrays, windows = [], []
    for video, clip in zip(videos, cached):
        if video.person not in persons or video.action not in actions:
            continue
        step = (
            OVERLAP_STEP
            if video.action in OVERLAPPING_ACTIONS
            else total_length
        )
        starts = kth_sequence_starts(clip.frame_numbers, total_length, step)
        if len(starts):
            windows.extend((len(arrays), 0, start) for start in starts)
            arrays.append(clip.frames)
    if not windows:
        raise DataError(
            root,
            f"the {split} split is empty: no video of persons "
            f"{_ranges(persons)} and actions {', '.join(actions)} has "
            f"{total_length} consecutive frames",
        )
    return WindowReader(
        str(root),
        arrays,
        "FHWC",
        np.array(windows, np.int64),
        total_length,
        details=(
            f"{len(arrays)} video{'s' if len(arrays) != 1 else ''} of "
            f"persons {_ranges(persons)}"
        ),
    )
