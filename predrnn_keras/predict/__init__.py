"""Forecasts of the user's own sequences: `forecast(model, source, ...)`.

    >>> from predrnn_keras.predict import forecast
    >>> summary = forecast("predrnn_v2_moving_mnist", "my_clips/",
    ...                    out_dir="forecasts", fit="resize")

The same as `predict.py` and `python -m predrnn_keras.predict`. Importing
this package does not import Keras (`forecast` does, on first use), so the
command line can still configure the runtime.
"""

from predrnn_keras.predict.inputs import Conversion
from predrnn_keras.predict.inputs import find_sources
from predrnn_keras.predict.inputs import fit_frames
from predrnn_keras.predict.inputs import read_sequences

__all__ = [
    "Conversion",
    "PredictError",
    "find_sources",
    "fit_frames",
    "forecast",
    "load_model",
    "read_sequences",
]


def __getattr__(name):
    if name in ("forecast", "load_model", "PredictError"):
        from predrnn_keras.predict import forecaster

        value = getattr(forecaster, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
