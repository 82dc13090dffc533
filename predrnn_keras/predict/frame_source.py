"""Frames, videos and arrays as the input of a forecast.

The `ForecastSource` of every model whose data kind reads no inputs of its
own: the sequences of `predict.inputs` (a video, GIF, folder of frames,
.npy / .npz array, or a folder of these), fitted to the model's frame shape
(`fit_frames`), written as 8-bit PNGs, a GIF and the forecast in the
input's value range.
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np

from predrnn_keras.data.data_error import DataError
from predrnn_keras.data.kinds import ForecastItem
from predrnn_keras.data.kinds import ForecastSource
from predrnn_keras.data.kinds.forecast_source import FORECAST_ARRAY
from predrnn_keras.data.kinds.forecast_source import FORECAST_GIF
from predrnn_keras.data.kinds.forecast_source import png_name
from predrnn_keras.plots import comparison_frames
from predrnn_keras.plots import save_gif
from predrnn_keras.plots import to_grey_or_rgb_uint8
from predrnn_keras.predict.inputs import Conversion
from predrnn_keras.predict.inputs import find_sources
from predrnn_keras.predict.inputs import fit_frames
from predrnn_keras.predict.inputs import read_sequences


def check_length(sequence, length: int, horizon: int, score: bool) -> None:
    """Refuses a sequence too short for the forecast; notes which of its
    frames are used."""
    have = sequence.length
    if score:
        needed = length + horizon
        if have < needed:
            raise DataError(
                sequence.source,
                f"{sequence.name}: {have} frames; --score needs {length} "
                f"context frames and {horizon} future ones ({needed})",
            )
        if have > needed:
            sequence.notes.append(f"scored frames 1..{needed} of {have}")
        return
    if have < length:
        raise DataError(
            sequence.source,
            f"{sequence.name}: {have} frames; the model needs a context of "
            f"{length} frames",
        )
    if have > length:
        sequence.notes.append(
            f"used its last {length} of {have} frames as the context"
        )


def _unique(name: str, taken: set) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


class FrameSource(ForecastSource):
    """Videos, frame folders and arrays (`predict.inputs`) to forecast.

    Args:
        source: the path the user gave.
        request: the `ForecastRequest`; its options `--fit`,
            `--convert-channels`, `--value-range` and `--key` say how
            frames that differ from the model's are read.
    """

    def __init__(self, source, request):
        options = request.options
        value_range = options.get("--value-range")
        self.conversion = Conversion(
            fit=options.get("--fit"),
            channels=bool(options.get("--convert-channels")),
            value_range=None if value_range is None else tuple(value_range),
        )
        self.key = options.get("--key")
        self.source = source
        self.request = request
        self.sources = find_sources(source, self.key)
        self.count = sum(s.count for s in self.sources)
        self.summary_fields = {}

    def describe(self, model_name, backend, out_dir) -> str:
        return (
            f"Forecasting {self.count} sequence(s) of {self.source} with "
            f"{model_name}: {self.request.length} context frames -> "
            f"{self.request.horizon} (backend {backend}) -> {out_dir}"
        )

    def items(self):
        length, horizon = self.request.length, self.request.horizon
        score = self.request.score
        keep = ("first", length + horizon) if score else ("last", length)
        taken = set()
        for src in self.sources:
            for sequence in read_sequences(src, self.key, keep):
                sequence.name = _unique(sequence.name, taken)
                check_length(sequence, length, horizon, score)
                frames, value_range = fit_frames(
                    sequence, self.request.frame_shape, self.conversion
                )
                yield ForecastItem(
                    name=sequence.name,
                    context=frames[:length],
                    truth=frames[length:] if score else None,
                    notes=sequence.notes,
                    data={"sequence": sequence, "value_range": value_range},
                )

    def write(self, folder: Path, item, forecast) -> dict:
        low, high = item.data["value_range"]
        np.save(
            folder / FORECAST_ARRAY,
            (forecast * (high - low) + low).astype(np.float32),
        )
        for t, frame in enumerate(forecast):
            iio.imwrite(
                folder / png_name(t, len(forecast)),
                to_grey_or_rgb_uint8(frame),
            )
        save_gif(
            folder / FORECAST_GIF,
            comparison_frames(item.context, item.truth, forecast),
            self.request.fps,
        )
        sequence = item.data["sequence"]
        start = self.request.length + 1
        return {
            "name": item.name,
            "source": str(sequence.source),
            "frames_read": int(sequence.length),
            "notes": list(item.notes),
            "value_range": [low, high],
            "folder": str(folder),
            "predicted_frames": [start, start + len(forecast) - 1],
        }

    def closing(self, entries, out_dir) -> str:
        return (
            f"Forecasts of {len(entries)} sequence(s): {out_dir}/NAME/ "
            f"({FORECAST_GIF}, {FORECAST_ARRAY}, forecast_*.png); summary: "
            f"{out_dir / 'summary.json'}"
        )
