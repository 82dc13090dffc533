"""Trained models that ship with the package, loaded by name, offline.

Each model is a folder of this package:

```
predrnn_keras/pretrained/predrnn_v2_moving_mnist/
  model.keras      the trained model (no optimizer state)
  recipe.toml      the recipe it was trained with (evaluate.py uses its data)
  manifest.json    how it was made and how well it predicts (see below)
```

The manifest holds the recipe in the repository that retrains it, the
iterations, backend, precision, training time and hardware, the test
metrics, the test MSE at several points of training, and the sha256 of
`model.keras`, which `load` checks.

    >>> from predrnn_keras import pretrained
    >>> pretrained.names()
    ['predrnn_v2_moving_mnist']
    >>> model = pretrained.load("predrnn_v2_moving_mnist")

`PredRNNV2.from_preset(name)` does the same, and every command line takes a
name where it takes a model: `predict.py --model NAME`, `evaluate.py NAME`.
`predrnn-package RUN_FOLDER --name NAME` (`python -m
predrnn_keras.cli.package`) makes a folder like this one from a trained run.
"""

import hashlib
import json
import os
from pathlib import Path

PRETRAINED_DIR = Path(__file__).resolve().parent
MODEL_FILE = "model.keras"
RECIPE_FILE = "recipe.toml"
MANIFEST_FILE = "manifest.json"


class PretrainedError(ValueError):
    """An unknown name, or a shipped model whose file does not match its
    manifest."""


def names() -> list:
    """The names of the shipped models, sorted."""
    return sorted(
        p.parent.name for p in PRETRAINED_DIR.glob(f"*/{MANIFEST_FILE}")
    )


def is_name(target) -> bool:
    """Whether `target` names a shipped model (and not an existing path)."""
    if not isinstance(target, str) or os.sep in target or "/" in target:
        return False
    return not Path(target).exists() and target in names()


def folder(name: str) -> Path:
    """The folder of the shipped model `name`.

    Raises:
        PretrainedError: no shipped model has that name.
    """
    if name not in names():
        raise PretrainedError(
            f"No shipped model named {name!r}; expected one of: "
            f"{', '.join(names()) or '(none installed)'}."
        )
    return PRETRAINED_DIR / name


def manifest(name: str) -> dict:
    """The manifest of the shipped model `name`."""
    with open(folder(name) / MANIFEST_FILE) as f:
        return json.load(f)


def sha256(path) -> str:
    """The SHA-256 of a file, in hexadecimal."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_path(name: str, verify: bool = True) -> Path:
    """The `.keras` file of `name`, checked against its manifest's sha256.

    Raises:
        PretrainedError: an unknown name, or a file that does not match.
    """
    path = folder(name) / MODEL_FILE
    if verify:
        expected = manifest(name)["sha256"]
        found = sha256(path)
        if found != expected:
            raise PretrainedError(
                f"{path}: sha256 {found} does not match the manifest's "
                f"{expected}; reinstall the package."
            )
    return path


def recipe_path(name: str) -> Path:
    """The recipe the shipped model `name` was trained with."""
    return folder(name) / RECIPE_FILE


def load(name: str):
    """Loads the shipped model `name` (a built `PredRNN` / `PredRNNV2`).

    Raises:
        PretrainedError: an unknown name, or a damaged file.
    """
    # The classes register with Keras as it loads (see predrnn_keras).
    import keras

    return keras.saving.load_model(model_path(name), compile=False)
