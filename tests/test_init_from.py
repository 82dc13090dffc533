"""Runs that start from a trained model: fine-tuning (`--init-from`) and
continuing (`--init-from MODEL --continue`)."""

import re

import keras
import numpy as np
import pytest
from keras import ops

from predrnn_keras import recipe_config
from predrnn_keras.training import RunFolderError
from predrnn_keras.training import train
from predrnn_keras.training.initial_model import has_optimizer_state
from predrnn_keras.training.initial_model import initial_model
from predrnn_keras.training.initial_model import model_table
from tests.workflow_helpers import model_state
from tests.workflow_helpers import read_state
from tests.workflow_helpers import run_script
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

# Checkpoints at 2, 4, 6 and 8; all kept.
TRAIN = {"checkpoint_every": 2, "keep_checkpoints": 10}


def recipe(**train_keys):
    return recipe_config.recipe_from_dict(
        tiny_recipe(train={**TRAIN, **train_keys})
    )


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 8-iteration run of the tiny recipe (read-only)."""
    run_dir = tmp_path_factory.mktemp("source") / "run"
    result = train(recipe(), run_dir, verbose=0)
    assert result.status == "finished" and result.iteration == 8
    return run_dir


def weights(path):
    return model_state(path)[2]


@pytest.mark.large
def test_continue_matches_an_uninterrupted_run(finished_run, tmp_path):
    halfway = finished_run / "checkpoints" / "ckpt-0000004.keras"
    continued = tmp_path / "continued"
    result = train(
        recipe(init_from=str(halfway), init_continue=True), continued,
        verbose=0,
    )
    assert (result.start_iteration, result.iteration) == (4, 8)
    assert read_state(continued)["sampling_step"] == 8
    step, optimizer_steps, ours = model_state(continued / "last.keras")
    # reverse_input: two optimizer steps per iteration.
    assert (step, optimizer_steps) == (8, 16)
    for a, b in zip(ours, weights(finished_run / "last.keras")):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_fine_tuning_takes_the_weights_and_starts_afresh(finished_run):
    run_recipe = recipe(init_from=str(finished_run))
    model, iteration = initial_model(
        run_recipe, (16, 16, 1), 1e-3, say=lambda *args: None
    )
    assert iteration == 0
    assert int(ops.convert_to_numpy(model.sampling_step)) == 0
    source = keras.saving.load_model(finished_run / "best.keras")
    for ours, theirs in zip(model.trainable_weights, source.trainable_weights):
        np.testing.assert_array_equal(
            ops.convert_to_numpy(ours), ops.convert_to_numpy(theirs)
        )
    assert not model.optimizer.built or all(
        float(np.abs(ops.convert_to_numpy(v)).max()) == 0.0
        for v in model.optimizer.variables[2:]
    )


@pytest.mark.large
def test_fine_tunes_through_the_command_line(finished_run, tmp_path):
    # The recipe leaves [model] out: it is the model's.
    raw = tiny_recipe(train={**TRAIN, "iterations": 2, "eval_every": 2})
    del raw["model"]
    path = write_recipe(tmp_path / "finetune.toml", raw)
    run = tmp_path / "run"
    done = run_script(
        "train.py", path, "--run-dir", run, "--init-from", finished_run
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Fine-tuning {finished_run / 'best.keras'}" in done.stdout
    saved = (run / "recipe.toml").read_text()
    assert "num_hidden = [4, 4]" in saved and "filter_size = 3" in saved
    assert f'init_from = "{finished_run}"' in saved
    assert read_state(run)["iteration"] == 2


def test_model_table_reads_the_saved_architecture(finished_run):
    table = model_table(finished_run)
    assert table["variant"] == "predrnn_v2"
    assert table["num_hidden"] == [4, 4]
    assert table["filter_size"] == 3 and table["patch_size"] == 4
    assert table["input_length"] == 3
    shipped = model_table("predrnn_v2_moving_mnist")
    assert shipped["num_hidden"] == [64, 64, 64] and shipped["filter_size"] == 3


def test_model_table_fills_only_the_left_out_keys(finished_run, tmp_path):
    raw = tiny_recipe(train={"init_from": str(finished_run)})
    raw["model"] = {"num_hidden": [6, 6]}
    path = write_recipe(tmp_path / "r.toml", raw)
    loaded = recipe_config.load_recipe(path, init_model_table=model_table)
    assert loaded["model"]["num_hidden"] == [6, 6]
    assert loaded["model"]["filter_size"] == 3
    assert loaded["model"]["input_length"] == 3
    # Without init_from the defaults apply.
    plain = recipe_config.load_recipe(
        write_recipe(tmp_path / "p.toml", {**raw, "train": {}}),
        init_model_table=model_table,
    )
    assert plain["model"]["filter_size"] == 5


def one_line_error(done) -> str:
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    return lines[-1]


@pytest.mark.large
def test_a_mismatch_or_missing_state_is_a_one_line_error(
    finished_run, tmp_path
):
    raw = tiny_recipe(model={"num_hidden": [8, 8]}, train=TRAIN)
    path = write_recipe(tmp_path / "wide.toml", raw)
    run = tmp_path / "never"
    message = one_line_error(
        run_script(
            "train.py", path, "--run-dir", run, "--init-from", finished_run
        )
    )
    assert re.search(
        r"^error: --init-from .*best.keras: \S*conv_x/kernel is "
        r"\(3, 3, 16, 28\) in MODEL and \(3, 3, 16, 56\) in the recipe's "
        r"model; make the recipe's \[model\] describe it",
        message,
    ), message
    assert not run.exists()

    # A model saved without its optimizer cannot be continued.
    bare = tmp_path / "bare.keras"
    keras.saving.load_model(finished_run / "best.keras", compile=False).save(
        bare
    )
    path = write_recipe(tmp_path / "tiny.toml", tiny_recipe(train=TRAIN))
    message = one_line_error(
        run_script(
            "train.py", path, "--run-dir", run, "--init-from", bare,
            "--continue",
        )
    )
    assert "holds no optimizer state" in message
    message = one_line_error(
        run_script("train.py", path, "--run-dir", run, "--continue")
    )
    assert "train.init_continue=true needs train.init_from" in message
    message = one_line_error(
        run_script(
            "train.py", path, "--run-dir", run, "--init-from",
            tmp_path / "nowhere.keras",
        )
    )
    assert "nowhere.keras" in message
    assert not run.exists()


@pytest.mark.large
def test_continue_needs_iterations_left(finished_run, tmp_path):
    with pytest.raises(RunFolderError, match="has had 8 iterations"):
        train(
            recipe(init_from=str(finished_run), init_continue=True),
            tmp_path / "run",
            verbose=0,
        )


def test_the_fine_tuning_recipe_starts_from_the_shipped_model():
    from predrnn_keras.training.initial_model import check_init_from
    from tests.workflow_helpers import REPO

    recipe = recipe_config.load_recipe(
        REPO / "recipes" / "finetune_frames.toml",
        init_model_table=model_table,
    )
    shipped = model_table("predrnn_v2_moving_mnist")
    for key in ("num_hidden", "filter_size", "patch_size", "input_length"):
        assert recipe["model"][key] == shipped[key], key
    assert recipe["train"]["init_from"] == "predrnn_v2_moving_mnist"
    assert not recipe["train"]["init_continue"]
    # Past the end of the sampling schedule from the first iteration: the
    # encoder sees true frames, the decoder its own predictions.
    assert recipe["model"]["r_sampling_step_2"] <= 1
    check_init_from(recipe, (64, 64, 1))  # the weights fit: no error


def test_optimizer_state_is_read_from_the_file(finished_run, tmp_path):
    """Keras gives a model loaded with `compile=True` a fresh, built
    optimizer whether or not the file holds one; only a file with the
    optimizer's variables has state to continue from."""
    trained = finished_run / "last.keras"
    model = keras.saving.load_model(trained)
    assert has_optimizer_state(model, trained)
    assert int(ops.convert_to_numpy(model.optimizer.iterations)) > 0
    bare = tmp_path / "bare.keras"
    keras.saving.load_model(trained, compile=False).save(bare)
    assert not has_optimizer_state(keras.saving.load_model(bare), bare)
    # Compiled but never trained: the file holds the step and the learning
    # rate, not Adam's moments.
    untrained = tmp_path / "untrained.keras"
    recipe_config.build_model(recipe()).save(untrained)
    with pytest.warns(UserWarning, match="Skipping variable loading"):
        fresh = keras.saving.load_model(untrained)
    assert fresh.optimizer.built
    assert not has_optimizer_state(fresh, untrained)
