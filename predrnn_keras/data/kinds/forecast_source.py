"""What `predict.py` asks of an input: its sequences and their files.

`predrnn_keras.predict.forecast` is one loop for every kind of input: it
opens a `ForecastSource` (frames, videos and arrays by default; a data kind
may read its own inputs, as radar reads a folder of radar files), predicts
the `ForecastItem`s it yields in batches, hands each forecast back to the
source to write, and scores it where the request asks.
"""

import dataclasses
from collections.abc import Iterator

import numpy as np

# The files of each forecast's folder, whatever the input.
FORECAST_ARRAY = "forecast.npy"
FORECAST_GIF = "forecast.gif"
FORECAST_PNG = "forecast_{number}.png"


def png_name(step: int, horizon: int) -> str:
    """`forecast_01.png`, ...: the PNG of lead step `step` (0-based),
    numbered with at least two digits."""
    width = max(2, len(str(horizon)))
    return FORECAST_PNG.format(number=f"{step + 1:0{width}d}")


@dataclasses.dataclass(frozen=True)
class ForecastRequest:
    """What the user asked of a forecast.

    Attributes:
        length: context frames (the model's `input_length`).
        horizon: frames to predict.
        score: read `horizon` true frames after the context and score the
            forecast against them.
        frame_shape: the model's `(height, width, channels)`.
        fps: frames per second of the GIFs.
        options: the options for frames, videos and arrays that were given,
            by their command-line names (`--fit`, `--convert-channels`,
            `--value-range`, `--key`) and values.
    """

    length: int
    horizon: int
    score: bool = False
    frame_shape: tuple = ()
    fps: float = 4.0
    options: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ForecastItem:
    """One sequence to forecast.

    Attributes:
        name: the name of its output folder.
        context: `(length, H, W, C)` in the model's values.
        truth: `(horizon, H, W, C)` in the model's values when scoring, else
            None.
        notes: what was done to it, for the summary.
        data: whatever the source needs to write its files.
    """

    name: str
    context: np.ndarray
    truth: "np.ndarray | None"
    notes: list
    data: object = None


class ForecastSource:
    """The sequences of one input and how their forecasts are written.

    Attributes:
        count: how many sequences it yields (for the progress bar).
        summary_fields: what it adds to summary.json before the sequences.
    """

    count = 0
    summary_fields: dict = {}

    def describe(self, model_name: str, backend: str, out_dir) -> str:
        """The line printed before forecasting."""
        raise NotImplementedError

    def items(self) -> Iterator[ForecastItem]:
        """The sequences, read one at a time."""
        raise NotImplementedError

    def write(self, folder, item: ForecastItem, forecast) -> dict:
        """Writes the files of one forecast `(horizon, H, W, C)` (model
        values in [0, 1]) into the new `folder`; returns its summary entry."""
        raise NotImplementedError

    def scores(self):
        """Scores beyond the frame metrics, for `request.score`: an object
        with `update(item, forecast) -> dict` (added to the item's entry),
        `result()`, `write_reports(out_dir, result)` and
        `describe(result, paths)`; None for none."""
        return None

    def closing(self, entries: list, out_dir) -> str:
        """The last line printed, naming the files."""
        raise NotImplementedError


class PredictError(ValueError):
    """An output folder or option that cannot be used as asked."""


def refuse_options(request: ForecastRequest, what: str) -> None:
    """Raises `PredictError` when options for frames were given for `what`.

    Args:
        request: the forecast's request.
        what: the inputs that ignore them, e.g. "radar files".
    """
    given = [name for name, value in request.options.items() if value]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise PredictError(
            f"{', '.join(given)} {verb} not apply to {what}: the "
            "recipe's [data] table says how they are read."
        )
