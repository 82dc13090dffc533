"""The model variants by name, and their constructor defaults.

A recipe names its model by variant ("predrnn" or "predrnn_v2"). The
defaults of every model argument are those of the classes' constructors:
this module reads them from there rather than repeating them, so the
recipe schema, the checkpoint converter and the documentation cannot drift
from the models.
"""

import inspect

from predrnn_keras.models.predrnn import PredRNN
from predrnn_keras.models.predrnn_v2 import PredRNNV2

MODEL_CLASSES = {"predrnn": PredRNN, "predrnn_v2": PredRNNV2}
VARIANTS = tuple(MODEL_CLASSES)


def model_class(variant):
    """The model class of `variant`."""
    if variant not in MODEL_CLASSES:
        raise ValueError(
            f"Expected a model variant in {VARIANTS}. "
            f"Received: variant={variant!r}"
        )
    return MODEL_CLASSES[variant]


def model_defaults(variant):
    """`{argument: default}` of `variant`'s constructor, `PredRNN`'s included.

    Tuples come back as lists (as a recipe writes them).
    """
    defaults = {}
    for cls in reversed(model_class(variant).__mro__):
        if cls not in (PredRNN, PredRNNV2):
            continue
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if parameter.default is inspect.Parameter.empty:
                continue
            value = parameter.default
            defaults[name] = list(value) if isinstance(value, tuple) else value
    return defaults
