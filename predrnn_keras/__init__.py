"""predrnn_keras: PredRNN and PredRNN-V2 for Keras 3 (TensorFlow, JAX, PyTorch).

Importing the package leaves the environment alone and imports Keras only
when one of its layers or models is first used, so that
`configure_runtime()` can still run before Keras loads. The layers and models register as Keras serializables (for
`keras.saving.load_model`) as soon as Keras is imported, before or after
this package and by whichever code: at once when Keras is loaded already,
else right after Keras loads (`keras_import.import_after_keras`).
"""

import importlib
import importlib.util

from predrnn_keras import keras_import
from predrnn_keras.runtime import configure_runtime

__version__ = "0.1.0"

# Public name -> the module that defines it.
_LAZY = {
    "PredRNN": "predrnn_keras.models",
    "PredRNNV2": "predrnn_keras.models",
    "PredRNNCell": "predrnn_keras.layers",
    "SpatioTemporalLSTM": "predrnn_keras.layers",
    "SpatioTemporalRNN": "predrnn_keras.layers",
    "patch_frames": "predrnn_keras.layers",
    "unpatch_frames": "predrnn_keras.layers",
    "forecast": "predrnn_keras.predict",
}

__all__ = sorted([*_LAZY, "configure_runtime"])


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(
        f"{__name__}.{name}"
    ):
        # A subpackage, as after an eager import: predrnn_keras.layers.
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted({*globals(), *__all__})


# The modules that define the Keras serializables.
keras_import.import_after_keras(
    ["predrnn_keras.layers", "predrnn_keras.models"], package=__name__
)
