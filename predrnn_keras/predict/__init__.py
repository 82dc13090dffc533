"""Forecasts of the user's own sequences: `forecast(model, source, ...)`.

    >>> from predrnn_keras.predict import forecast
    >>> summary = forecast("predrnn_v2_moving_mnist", "my_clips/",
    ...                    out_dir="forecasts", fit="resize")

The same as `predict.py` and `python -m predrnn_keras.predict`. Importing
this package imports nothing else (its names load on first use), so that
the command line can configure the runtime before Keras loads.
"""

import importlib

# Public name -> the module that defines it.
_NAMES = {
    "Conversion": "inputs",
    "find_sources": "inputs",
    "fit_frames": "inputs",
    "read_sequences": "inputs",
    "PredictError": "forecaster",
    "forecast": "forecaster",
    "load_model": "forecaster",
    "load_model_and_recipe": "forecaster",
}

__all__ = sorted(_NAMES)


def __getattr__(name):
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_NAMES[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})
