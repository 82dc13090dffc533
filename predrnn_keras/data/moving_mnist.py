"""Moving MNIST generated on the fly: MNIST digits bouncing in a canvas."""

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from predrnn_keras.data import config_checks
from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.decoding import resize_frames
from predrnn_keras.data.mapped_array import load_npz_arrays
from predrnn_keras.data.sequence_reader import SequenceReader

KEYS = {
    "num_digits": config_checks.DataKey(
        "an integer from 1 to 3", 2, "digits per sequence"
    ),
    "image_size": config_checks.DataKey(
        "an integer or [height, width]", 64, "frame size in pixels"
    ),
    "digit_size": config_checks.DataKey(
        "an integer >= 1",
        28,
        "digit size in pixels; other sizes resize the digits",
    ),
    "mnist_path": config_checks.DataKey(
        "a path",
        None,
        "an MNIST .npz in Keras' format; default Keras' "
        "~/.keras/datasets/mnist.npz if present, else the digits embedded "
        "in the package",
    ),
    "speed": config_checks.DataKey(
        "a number > 0, or [low, high] with 0 < low <= high",
        [2.0, 5.0],
        "pixels a digit moves per frame: fixed, or drawn uniformly per "
        "digit; the benchmark's mnist_test_seq.npy moves 0.1 of the free "
        "canvas, 3.6 in 64x64 with 28-pixel digits",
    ),
    "num_sequences": config_checks.DataKey(
        "an integer >= 1", 1000, "sequences in the val and test sets"
    ),
    "eval_seed": config_checks.DataKey(
        "an integer >= 0",
        0,
        "seed of the val and test sets, apart from train.seed so that "
        "every run is evaluated on the same sequences",
    ),
}
EMBEDDED_DIGITS = Path(__file__).parent / "assets" / "mnist_sample.npz"
# Pixels per frame. Srivastava et al. (2015) move digits by 0.1 of the free
# range (3.6 px in 64x64); this range centres on that.
SPEED_RANGE = (2.0, 5.0)
# Independent random streams for the three splits.
_STREAMS = {"train": 0, "val": 1, "test": 2}


def keras_mnist_path() -> Path:
    """Returns where `keras.datasets.mnist.load_data()` caches MNIST."""
    home = os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(home).expanduser() / "datasets" / "mnist.npz"


def load_digits(
    mnist_path: "str | os.PathLike[str] | None", split: str
) -> tuple[np.ndarray, Path]:
    """Loads the digits of a split from an MNIST file in Keras' format.

    Args:
        mnist_path: an .npz with `x_train` and `x_test` (uint8, (n, 28, 28)).
            None takes Keras' own cache `~/.keras/datasets/mnist.npz` where it
            exists, and else the real MNIST digits embedded in this package
            (1,000 training and 500 test digits, see `assets/README.md`).
        split: "train" reads `x_train`; "val" and "test" read `x_test`.

    Returns:
        The digits (n, height, width) uint8 and the file they came from.

    Raises:
        DataError: the file is missing or is not such an MNIST file.
    """
    if mnist_path is not None:
        path = Path(mnist_path).expanduser()
    elif keras_mnist_path().is_file():
        path = keras_mnist_path()
    else:
        path = EMBEDDED_DIGITS
    key = "x_train" if split == "train" else "x_test"
    digits = load_npz_arrays(
        path, (key,), "an MNIST .npz with x_train and x_test"
    )[key]
    if digits.ndim != 3 or digits.dtype != np.uint8 or len(digits) == 0:
        raise DataError(
            path,
            f"{key} is {digits.dtype} of shape {digits.shape}; expected "
            "uint8 digits (n, height, width)",
        )
    return digits, path


class MovingMNIST(SequenceReader):
    """Moving MNIST sequences, each generated from its index.

    Each sequence draws `num_digits` digits; each digit starts at a uniform
    position with the whole digit inside the canvas and moves in a uniform
    direction at a speed drawn uniformly from `speed` (pixels per frame),
    bouncing off the borders (mirror reflection), so that it never leaves
    the canvas. Frames combine the digits by pixel-wise maximum. Sequence
    `index` is drawn from the random stream (seed, stream, index): any
    sequence can be made alone, in any order, on any thread.

    Args:
        digits: uint8 digit images (n, digit_size, digit_size).
        image_size: (height, width) of the canvas.
        num_digits: digits per sequence.
        total_length: frames per sequence.
        seed: the seed of the sequences.
        stream: 0 (training), 1 (validation) or 2 (test): the three splits
            never share a sequence.
        num_sequences: sequences in the split; None for endless training.
        name: the source of the digits, for messages.
        speed: `(low, high)` pixels per frame; `low == high` is a fixed
            speed.

    Example:

    >>> digits, path = load_digits(None, "test")
    >>> reader = MovingMNIST(digits, (64, 64), 2, 20, 0, 2, 100, str(path))
    >>> reader.read_batch(np.arange(4)).shape
    (4, 20, 64, 64, 1)
    """

    def __init__(
        self,
        digits: np.ndarray,
        image_size: tuple[int, int],
        num_digits: int,
        total_length: int,
        seed: int,
        stream: int,
        num_sequences: "int | None",
        name: str,
        speed: tuple[float, float] = SPEED_RANGE,
    ):
        super().__init__(
            name,
            num_sequences,
            total_length,
            (*image_size, 1),
            details=f"{len(digits):,} digits, {num_digits} per sequence",
        )
        self.digits = digits
        self.num_digits = num_digits
        self.seed = seed
        self.stream = stream
        self.speed = (float(speed[0]), float(speed[1]))

    def trajectories(self, rng: np.random.Generator) -> np.ndarray:
        """Draws the top-left corners (num_digits, T, 2) of the digits."""
        digit_size = np.array(self.digits.shape[1:3])
        limit = np.array(self.frame_shape[:2]) - digit_size
        start = rng.uniform(0.0, 1.0, (self.num_digits, 2)) * limit
        angle = rng.uniform(0.0, 2.0 * np.pi, self.num_digits)
        speed = rng.uniform(*self.speed, self.num_digits)
        velocity = speed[:, None] * np.stack([np.sin(angle), np.cos(angle)], 1)
        steps = np.arange(self.total_length)[None, :, None]
        travel = start[:, None, :] + velocity[:, None, :] * steps
        # Bouncing between 0 and limit is travel folded into [0, 2 * limit)
        # and mirrored about limit: a triangle wave of the free motion.
        folded = np.mod(travel, 2 * limit)
        return np.rint(limit - np.abs(limit - folded)).astype(np.int64)

    def draw(self, index: int, frames: np.ndarray) -> None:
        """Draws sequence `index` into zeroed uint8 frames (T, height, width)."""
        rng = np.random.default_rng([self.seed, self.stream, index])
        choice = rng.integers(len(self.digits), size=self.num_digits)
        corners = self.trajectories(rng)
        height, width = self.digits.shape[1:3]
        for digit, path in zip(self.digits[choice], corners):
            for frame, (top, left) in zip(frames, path):
                region = frame[top : top + height, left : left + width]
                np.maximum(region, digit, out=region)

    def read_batch(self, indices: np.ndarray) -> np.ndarray:
        """Returns sequences `indices` as float32 (n, T, H, W, 1) in [0, 1]."""
        frames = np.zeros(
            (len(indices), self.total_length, *self.frame_shape), np.uint8
        )
        for sequence, index in zip(frames, indices):
            self.draw(int(index), sequence[..., 0])
        return np.divide(frames, np.float32(255), dtype=np.float32)


def moving_mnist_reader(
    config: Mapping, split: str, total_length: int, seed: int
) -> MovingMNIST:
    """Builds the generated Moving MNIST reader of a split.

    Config keys: `KEYS` (docs/recipes.md).

    Args:
        config: the `[data]` table.
        split: "train" (endless, training digits, drawn from `seed`), "val"
            or "test" (fixed sets of test digits, drawn from `eval_seed`).
        total_length: frames per sequence.
        seed: the seed of the training sequences.

    Returns:
        The reader.
    """
    config_checks.check_keys(config, "moving_mnist", KEYS)
    num_digits = config_checks.get_int(
        config, "num_digits", KEYS["num_digits"].default, 1, 3
    )
    image_size = config_checks.get_image_size(
        config, KEYS["image_size"].default
    )
    digit_size = config_checks.get_int(
        config, "digit_size", KEYS["digit_size"].default
    )
    num_sequences = config_checks.get_int(
        config, "num_sequences", KEYS["num_sequences"].default
    )
    eval_seed = config_checks.get_int(
        config, "eval_seed", KEYS["eval_seed"].default, low=0
    )
    if digit_size >= min(image_size):
        raise ValueError(
            "Expected [data] digit_size smaller than image_size, so that "
            f"digits can move. Received: digit_size={digit_size}, "
            f"image_size={list(image_size)}"
        )
    mnist_path = (
        config_checks.get_path(config, "mnist_path")
        if config.get("mnist_path") is not None
        else None
    )
    speed = get_speed(config)
    digits, path = load_digits(mnist_path, split)
    if digits.shape[1:] != (digit_size, digit_size):
        digits = resize_frames(digits[..., None], (digit_size, digit_size))
        digits = digits[..., 0]
    train = split == "train"
    return MovingMNIST(
        digits,
        image_size,
        num_digits,
        total_length,
        seed if train else eval_seed,
        _STREAMS[split],
        None if train else num_sequences,
        str(path),
        speed,
    )


def get_speed(config: Mapping) -> tuple[float, float]:
    """`[data] speed` as `(low, high)` pixels per frame.

    Raises:
        ValueError: not a positive number or an ordered pair of them.
    """
    value = config.get("speed", list(SPEED_RANGE))
    pair = value if isinstance(value, list) else [value, value]
    numbers = all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair
    )
    if len(pair) != 2 or not numbers or not 0 < pair[0] <= pair[1]:
        raise ValueError(
            f"Expected [data] speed to be {KEYS['speed'].type}. "
            f"Received: speed={value!r}"
        )
    return float(pair[0]), float(pair[1])
