"""Trained models shipped with the package: by name, checked, packaged."""

import json
import shutil

import numpy as np
import pytest

from predrnn_keras import recipe_config
from predrnn_keras import pretrained
from predrnn_keras.evaluation import evaluate
from predrnn_keras.models import PredRNN
from predrnn_keras.models import PredRNNV2
from predrnn_keras.cli.package import package
from predrnn_keras.run_folder import RunFolder
from predrnn_keras.run_folder import resolve_target
from tests.workflow_helpers import REPO
from tests.workflow_helpers import tiny_recipe

SHIPPED = "predrnn_v2_moving_mnist"
RADAR = "predrnn_v2_radar_5min"
MANIFEST_KEYS = {
    "name", "description", "class", "frame_shape", "input_length",
    "retrain", "recipe", "iterations", "backend", "precision",
    "training_seconds", "hardware", "test", "training_curve",
    "keras_version", "created", "file", "bytes", "sha256",
}


@pytest.mark.parametrize("name", [SHIPPED, RADAR])
def test_the_shipped_model_matches_its_manifest(name):
    assert name in pretrained.names()
    manifest = pretrained.manifest(name)
    assert MANIFEST_KEYS <= set(manifest)
    path = pretrained.model_path(name)
    assert pretrained.sha256(path) == manifest["sha256"]
    assert path.stat().st_size == manifest["bytes"]
    # The recipe that retrains it is in the repository and is the one the
    # model was trained with.
    assert (REPO / manifest["recipe"]).is_file()
    shipped = recipe_config.load_recipe(pretrained.recipe_path(name))
    source = recipe_config.load_recipe(REPO / manifest["recipe"])
    assert recipe_config.recipe_differences(source, shipped) in (
        [], ["train.precision ('auto' -> 'float32')"],
        ["train.precision ('auto' -> 'mixed_bfloat16')"],
    )
    test = manifest["test"]
    assert len(test["mse_frame_sum_per_frame"]) == test["horizon"]
    assert test["mse_frame_sum"] == pytest.approx(
        np.mean(test["mse_frame_sum_per_frame"]), rel=1e-3
    )
    if name == RADAR:
        # Its pixel size (for pysteps_nowcast) and its scores beside the
        # baselines, at every lead time.
        assert manifest["pixel_km"] == pytest.approx(640 / 96)
        nowcast = manifest["nowcast"]
        for method in ("PredRNN", "extrapolation", "sprog", "anvil", "linda"):
            assert len(nowcast[method]["CSI"]) == len(nowcast["lead_minutes"])
    # The repository stays lean: a few MB a model, and 20 MB for one that
    # carries its optimizer state (Adam's two moments per weight).
    limit = 20 if manifest.get("optimizer_state") else 5
    assert path.stat().st_size <= limit * 2**20


def test_the_shipped_model_loads_by_name_and_predicts():
    model = PredRNNV2.from_preset(SHIPPED)
    assert isinstance(model, PredRNNV2)
    assert PredRNN.from_preset(SHIPPED) is not model  # a subclass loads too
    manifest = pretrained.manifest(SHIPPED)
    assert list(model.frame_shape) == manifest["frame_shape"]
    assert model.input_length == manifest["input_length"]
    # Bouncing digits from the test split: the forecast is a real forecast,
    # far better than empty frames.
    recipe = recipe_config.load_recipe(
        pretrained.recipe_path(SHIPPED), ["data.num_sequences=8"]
    )
    from predrnn_keras.data import build_dataset

    data = build_dataset(recipe["data"], "test", batch_size=8,
                         total_length=20, patch_size=4)
    clips = next(data.as_numpy_iterator())
    pred = model.predict_future(clips[:, :10], 10, batch_size=8)
    truth = clips[:, 10:]
    mse = ((pred - truth) ** 2).sum(axis=(2, 3, 4)).mean()
    blank = (truth ** 2).sum(axis=(2, 3, 4)).mean()
    assert mse < 0.6 * blank


def test_the_shipped_model_can_be_continued():
    """It carries the optimizer state that `train.py --init-from NAME
    --continue` needs, at the iteration its manifest gives."""
    import keras

    from predrnn_keras.training.initial_model import has_optimizer_state

    manifest = pretrained.manifest(SHIPPED)
    path = pretrained.model_path(SHIPPED)
    model = keras.saving.load_model(path)
    assert manifest["optimizer_state"] is True
    assert has_optimizer_state(model, path)
    step = int(keras.ops.convert_to_numpy(model.sampling_step))
    assert step == manifest["iterations"] == manifest["model_iteration"]
    # The speed of the benchmark's mnist_test_seq.npy, scored beside the
    # recipe's own test split.
    fixed = manifest["other_tests"]["speed_3.6"]
    assert fixed["overrides"] == ["data.speed=3.6"]
    assert fixed["num_sequences"] == manifest["test"]["num_sequences"]


def test_names_reach_every_command(tmp_path):
    model_path, recipe_path, run_dir = resolve_target(SHIPPED)
    assert model_path == pretrained.model_path(SHIPPED)
    assert recipe_path == pretrained.recipe_path(SHIPPED) and run_dir is None
    results, out, _, _ = evaluate(
        SHIPPED,
        overrides=["evaluate.num_sequences=2", "evaluate.save_sequences=0"],
        out_dir=tmp_path / "evaluation",
        verbose=0,
    )
    assert results["num_sequences"] == 2 and out == tmp_path / "evaluation"


def test_unknown_and_damaged_models(tmp_path, monkeypatch):
    with pytest.raises(pretrained.PretrainedError, match="No shipped model "
                       f"named 'nope'; expected one of: .*{SHIPPED}"):
        pretrained.load("nope")
    with pytest.raises(pretrained.PretrainedError, match="is a PredRNNV2, "
                       "not a _Other: load it with PredRNNV2.from_preset"):
        _Other.from_preset(SHIPPED)
    copy = tmp_path / SHIPPED
    shutil.copytree(pretrained.folder(SHIPPED), copy)
    with open(copy / pretrained.MODEL_FILE, "ab") as f:
        f.write(b"\0")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    with pytest.raises(pretrained.PretrainedError, match=r"sha256 .* does "
                       r"not match the manifest's"):
        pretrained.load(SHIPPED)


class _Other(PredRNNV2):
    pass


def _tiny_run(run_dir, model_file, optimizer_state=True):
    """A run folder holding a tiny model (with its built optimizer, at
    step 8, or without an optimizer) as `model_file`."""
    run_dir.mkdir()
    recipe = recipe_config.recipe_from_dict(
        tiny_recipe(train={"precision": "float32"})
    )
    recipe_config.dump_recipe(recipe, run_dir / "recipe.toml")
    model = recipe_config.build_model(recipe)
    if optimizer_state:
        model.optimizer.build(model.trainable_variables)
        model.optimizer.iterations.assign(8)
    model.save(run_dir / model_file)
    return run_dir


def test_packaging_a_run(tmp_path):
    run_dir = _tiny_run(tmp_path / "run", "best.keras")
    RunFolder(run_dir).write_state(
        {"iteration": 8, "train_seconds": 1.5, "backend": "jax",
         "hardware": "a test CPU"}
    )
    curve = tmp_path / "curve.json"
    curve.write_text(json.dumps(
        {"checkpoints": [{"iteration": 8, "mse_frame_sum": 9.0}]}
    ))
    folder = package(
        run_dir, "tiny", source_recipe="recipes/quickstart.toml",
        curve=curve, destination=tmp_path / "shipped", verbose=0,
    )
    manifest = json.loads((folder / pretrained.MANIFEST_FILE).read_text())
    assert MANIFEST_KEYS <= set(manifest)
    assert manifest["iterations"] == 8 and manifest["backend"] == "jax"
    assert manifest["hardware"] == "a test CPU"
    assert manifest["training_curve"] == [
        {"iteration": 8, "mse_frame_sum": 9.0}
    ]
    assert manifest["test"]["num_sequences"] == 8
    assert manifest["sha256"] == pretrained.sha256(folder / "model.keras")
    # No optimizer state: smaller than the run's checkpoint.
    assert manifest["bytes"] < (run_dir / "best.keras").stat().st_size
    with pytest.raises(FileExistsError, match="--overwrite"):
        package(run_dir, "tiny", destination=tmp_path / "shipped", verbose=0)


def test_packaging_with_the_optimizer_state_and_other_test_sets(tmp_path):
    run_dir = _tiny_run(tmp_path / "run", "last.keras")
    RunFolder(run_dir).write_state({"iteration": 8})
    folder = package(
        run_dir, "tiny", which="last", with_optimizer=True,
        also_test={"fast": ["data.speed=4.5"]},
        destination=tmp_path / "shipped", verbose=0,
    )
    manifest = json.loads((folder / pretrained.MANIFEST_FILE).read_text())
    assert manifest["optimizer_state"] is True
    # The run's file as it is, optimizer state and all.
    shipped = folder / pretrained.MODEL_FILE
    assert shipped.read_bytes() == (run_dir / "last.keras").read_bytes()
    import keras

    loaded = keras.saving.load_model(shipped)
    assert int(loaded.optimizer.iterations.numpy()) == 8
    # Another test set: the recipe's test split at a fixed speed, scored
    # on its own.
    fast = manifest["other_tests"]["fast"]
    assert fast["overrides"] == ["data.speed=4.5"]
    assert fast["num_sequences"] == manifest["test"]["num_sequences"]
    assert fast["mse_frame_sum"] != manifest["test"]["mse_frame_sum"]
    # A model saved without its optimizer state cannot be shipped with it.
    bare = _tiny_run(tmp_path / "bare", "last.keras", optimizer_state=False)
    with pytest.raises(ValueError, match="saved without its optimizer "
                       r"state; --with-optimizer needs a checkpoint"):
        package(bare, "bare", which="last", with_optimizer=True,
                destination=tmp_path / "shipped", verbose=0)
