"""Starting a run from a trained model: fine-tuning or continuing it.

`train.init_from` (`train.py --init-from MODEL`) names a shipped model, a
run folder or a `.keras` file. The new run builds the recipe's model and
takes MODEL's weights:

- fine-tuning (the default): the trainable weights only; the optimizer, the
  learning-rate schedule and the sampling schedule start afresh from the
  recipe, at iteration 0;
- continuing (`train.init_continue`, `train.py --continue`): every weight,
  the sampling step and the optimizer's state and step too, so that the run
  goes on at MODEL's iteration exactly as MODEL's own run would have (a run
  folder gives its last model, which holds the optimizer's state).

The recipe's `[model]` must describe MODEL's architecture: a weight of
another shape is a one-line error naming it and both shapes. Keys the
recipe leaves out of `[model]` are MODEL's (`model_table`).
"""

import json
import zipfile
from pathlib import Path

import h5py
import keras
import numpy as np
from keras import ops

from predrnn_keras import recipe_config
from predrnn_keras.models.variants import MODEL_CLASSES
from predrnn_keras.recipe_schema import SCHEMA
from predrnn_keras.run_folder import RunFolderError
from predrnn_keras.run_folder import model_file


def init_model_path(target, init_continue: bool) -> Path:
    """The `.keras` file of `train.init_from`: a run folder's last model to
    continue it (it holds the optimizer's state), its best to fine-tune."""
    return model_file(target, "last" if init_continue else "best")


def model_table(target, init_continue: bool = False) -> dict:
    """The recipe `[model]` table of a saved model, read from its file's
    config without building it.

    Raises:
        RunFolderError: no such model, or a file that is not a `.keras`
            file of a PredRNN model.
    """
    path = init_model_path(target, init_continue)
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        raise RunFolderError(
            f"{path}: not a readable .keras file ({error})"
        ) from None
    variants = {cls.__name__: name for name, cls in MODEL_CLASSES.items()}
    if saved.get("class_name") not in variants:
        raise RunFolderError(
            f"{path}: a {saved.get('class_name')!r}, expected one of "
            f"{', '.join(variants)}"
        )
    config = saved.get("config", {})
    table = {"variant": variants[saved["class_name"]]}
    for key in SCHEMA["model"]:
        if key in config:
            value = config[key]
            table[key] = list(value) if isinstance(value, tuple) else value
    return table


def _short(path: str) -> str:
    """A variable's path without the model's own name."""
    return path.split("/", 1)[-1]


def check_architecture(model, source, source_path) -> None:
    """Raises when `source`'s weights do not fit `model`'s, naming the first
    weight of another shape (or the first one missing)."""
    ours, theirs = model.weights, source.weights
    hint = (
        "make the recipe's [model] describe it, or leave those keys out to "
        "take MODEL's"
    )
    for mine, saved in zip(ours, theirs):
        if tuple(mine.shape) != tuple(saved.shape):
            raise RunFolderError(
                f"--init-from {source_path}: {_short(mine.path)} is "
                f"{tuple(saved.shape)} in MODEL and {tuple(mine.shape)} in "
                f"the recipe's model; {hint}"
            )
    if len(ours) != len(theirs):
        longer = ours if len(ours) > len(theirs) else theirs
        missing = longer[min(len(ours), len(theirs))]
        where = "MODEL" if longer is theirs else "the recipe's model"
        raise RunFolderError(
            f"--init-from {source_path}: only {where} has "
            f"{_short(missing.path)} ({len(theirs)} weights in MODEL, "
            f"{len(ours)} in the recipe's model); {hint}"
        )


def saved_optimizer_variables(path) -> int:
    """How many optimizer variables the `.keras` file at `path` holds: 0
    for a model saved without its optimizer, 2 (step and learning rate)
    for one saved before its first training step."""
    with zipfile.ZipFile(path) as archive, archive.open(
        "model.weights.h5"
    ) as weights, h5py.File(weights, "r") as h5:
        group = h5.get("optimizer/vars")
        return 0 if group is None else len(group)


def has_optimizer_state(model, path) -> bool:
    """Whether `model`, loaded from `path`, got its optimizer's state from
    the file (Keras builds a fresh optimizer on loading when the file has
    none, or one saved before training)."""
    saved = getattr(model, "optimizer", None)
    return (
        saved is not None and saved.built and len(saved.variables) > 0
        and saved_optimizer_variables(path) == len(saved.variables)
    )


def _check_optimizer_state(source, source_path) -> None:
    if not has_optimizer_state(source, source_path):
        raise RunFolderError(
            f"--continue: {source_path} holds no optimizer state (it was "
            "saved without it); fine-tune it instead (leave out --continue)"
        )


def _check_iterations_left(source, source_path, iterations: int) -> int:
    iteration = int(ops.convert_to_numpy(source.sampling_step))
    if iteration >= iterations:
        raise RunFolderError(
            f"--continue: {source_path} has had {iteration} iterations, and "
            f"the recipe's train.iterations={iterations} leaves none; raise "
            "train.iterations"
        )
    return iteration


def _load_checked(recipe: dict, frame_shape, build):
    """MODEL and the recipe's model, checked against each other:
    `(source, path, model)`."""
    train = recipe["train"]
    path = init_model_path(train["init_from"], train["init_continue"])
    source = keras.saving.load_model(path)
    model = build()
    check_architecture(model, source, path)
    if train["init_continue"]:
        _check_optimizer_state(source, path)
        _check_iterations_left(source, path, train["iterations"])
    return source, path, model


def check_init_from(recipe: dict, frame_shape) -> None:
    """Raises what `initial_model` would, before a run folder is made.

    Raises:
        RunFolderError: see `initial_model`.
    """
    _load_checked(
        recipe,
        frame_shape,
        lambda: recipe_config.build_model(recipe, frame_shape, compile=False),
    )


def _copy_optimizer(model, source, source_path) -> None:
    """Gives `model`'s optimizer the state and step of `source`'s."""
    saved = source.optimizer
    model.optimizer.build(model.trainable_variables)
    ours = model.optimizer.variables
    if len(ours) != len(saved.variables):
        raise RunFolderError(
            f"--continue: {source_path}'s optimizer has "
            f"{len(saved.variables)} variables, the recipe's "
            f"{len(ours)}; train.init_continue needs the same optimizer"
        )
    for mine, theirs in zip(ours, saved.variables):
        if tuple(mine.shape) != tuple(theirs.shape):
            raise RunFolderError(
                f"--continue: optimizer variable {_short(mine.path)} is "
                f"{tuple(theirs.shape)} in MODEL and {tuple(mine.shape)} "
                "in the recipe's"
            )
        mine.assign(ops.convert_to_numpy(theirs))


def initial_model(recipe: dict, frame_shape, learning_rate: float, say):
    """The recipe's model with the weights of `train.init_from`, compiled:
    `(model, iteration)`.

    Args:
        recipe: a complete recipe whose `train.init_from` is set.
        frame_shape: `(height, width, channels)` of the data.
        learning_rate: the run's initial learning rate.
        say: prints a message (or nothing).

    Raises:
        RunFolderError: no such model, an architecture that differs from
            the recipe's, missing optimizer state for `init_continue`, or an
            iteration the run cannot go on from.
    """
    source, path, model = _load_checked(
        recipe,
        frame_shape,
        lambda: recipe_config.build_model(
            recipe, frame_shape, learning_rate=learning_rate
        ),
    )
    if not recipe["train"]["init_continue"]:
        pairs = zip(model.trainable_weights, source.trainable_weights)
        for mine, theirs in pairs:
            mine.assign(ops.convert_to_numpy(theirs))
        say(f"Fine-tuning {path}: its weights, a new optimizer and schedule")
        return model, 0
    model.set_weights([np.asarray(w) for w in source.get_weights()])
    _copy_optimizer(model, source, path)
    iteration = int(ops.convert_to_numpy(model.sampling_step))
    say(
        f"Continuing {path} at iteration {iteration}: its weights, optimizer "
        "state and schedule step"
    )
    return model, iteration
