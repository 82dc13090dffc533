"""End-to-end training: run folders, checkpoints, SIGKILL and resume, NaN
guard, TensorBoard logs."""

import hashlib
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from predrnn_keras import recipe_config
from predrnn_keras.training import NonFiniteLossError
from predrnn_keras.training import RunFolder
from predrnn_keras.training import RunFolderError
from predrnn_keras.training import epoch_length
from predrnn_keras.training import train
from predrnn_keras.training import datasets as datasets_module
from predrnn_keras.training import validation_epochs
from tests.workflow_helpers import copy_run
from tests.workflow_helpers import kill_after_first_checkpoint
from tests.workflow_helpers import model_state
from tests.workflow_helpers import read_state
from tests.workflow_helpers import run_script
from tests.workflow_helpers import script
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe


def recipe(**sections):
    return recipe_config.recipe_from_dict(tiny_recipe(**sections))


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished 8-iteration run of the tiny recipe (read-only: copy it)."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    result = train(recipe(), run_dir, verbose=0)
    assert result.status == "finished" and result.iteration == 8
    return run_dir


def test_epochs_fall_on_every_evaluation_and_checkpoint():
    train_cfg = {"iterations": 30, "eval_every": 10, "checkpoint_every": 4}
    assert epoch_length(train_cfg) == 2
    assert validation_epochs(train_cfg) == [5, 10, 15]
    train_cfg = {"iterations": 25, "eval_every": 10, "checkpoint_every": 5}
    assert epoch_length(train_cfg) == 5
    # Every 10 iterations and at the end.
    assert validation_epochs(train_cfg) == [2, 4, 5]


@pytest.mark.large
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    # Checkpoints at every iteration; enough iterations that the kill lands
    # mid-run.
    raw = tiny_recipe(
        train={
            "iterations": 12,
            "checkpoint_every": 1,
            "eval_every": 6,
            "keep_checkpoints": 100,
        }
    )
    path = write_recipe(tmp_path / "tiny.toml", raw)

    # Uninterrupted run (in this process).
    whole = tmp_path / "whole"
    result = train(recipe_config.load_recipe(path), whole, verbose=0)
    assert result.status == "finished" and result.iteration == 12

    # The same command, killed with SIGKILL as soon as a checkpoint exists.
    killed = tmp_path / "killed"
    state = kill_after_first_checkpoint(
        script("train.py", path, "--run-dir", killed, "--quiet"), killed
    )
    assert not state["finished"], "the run ended before the kill"
    # What the killed run had committed, to check it is never overwritten.
    committed = {
        p.relative_to(killed): digest(p)
        for p in [
            killed / "recipe.toml",
            *(killed / "logs").rglob("events.out.tfevents.*"),
            *[
                c
                for i, c in RunFolder(killed).checkpoints()
                if i <= state["iteration"]
            ],
        ]
    }
    killed_at = state["iteration"]

    # Rerun the same command: it resumes.
    done = run_script("train.py", path, "--run-dir", killed)
    assert done.returncode == 0, done.stderr
    assert f"Resuming {killed} at iteration {killed_at}/12" in done.stdout
    final = read_state(killed)
    assert final["finished"] and final["iteration"] == 12
    assert final["sampling_step"] == read_state(whole)["sampling_step"] == 12

    step_a, opt_a, weights_a = model_state(whole / "last.keras")
    step_b, opt_b, weights_b = model_state(killed / "last.keras")
    assert step_a == step_b == 12
    # reverse_input: two optimizer steps per iteration.
    assert opt_a == opt_b == 24
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_allclose(a, b, atol=1e-5)

    # The first run's outputs are all still there, unchanged.
    for relative, value in committed.items():
        assert digest(killed / relative) == value, relative

    # A third time: finished, nothing to do.
    again = train(recipe_config.load_recipe(path), killed, verbose=0)
    assert again.status == "already_finished" and again.iteration == 12


@pytest.mark.large
def test_run_folder_is_never_overwritten_without_asking(finished_run, tmp_path):
    run_dir = copy_run(finished_run, tmp_path)
    stamp = digest(run_dir / "last.keras")

    again = train(recipe(), run_dir, verbose=0)
    assert again.status == "already_finished"
    # Another recipe in the same folder: refused, nothing changed.
    with pytest.raises(RunFolderError, match=r"model\.num_hidden.*--overwrite"):
        train(recipe(model={"num_hidden": [8, 8]}), run_dir, verbose=0)
    assert digest(run_dir / "last.keras") == stamp
    # [evaluate] settings do not make it another run.
    same = train(recipe(evaluate={"horizon": 9}), run_dir, verbose=0)
    assert same.status == "already_finished"

    # A folder with other files is not a run folder: never deleted.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(RunFolderError, match="not a run folder"):
            train(recipe(), other, overwrite=overwrite, verbose=0)
    assert (other / "notes.txt").read_text() == "keep me"

    # --overwrite starts again.
    fresh = train(
        recipe(model={"num_hidden": [8, 8]}),
        run_dir,
        overwrite=True,
        verbose=0,
    )
    assert fresh.status == "finished" and fresh.start_iteration == 0
    saved = RunFolder(run_dir).read_recipe()
    assert saved["model"]["num_hidden"] == [8, 8]


@pytest.mark.large
def test_resume_ignores_a_partial_write_and_keeps_few_checkpoints(
    finished_run, tmp_path
):
    run_dir = copy_run(finished_run, tmp_path)
    # Roll the run back to its checkpoint at iteration 4, as if killed while
    # writing the checkpoint of iteration 6.
    state = read_state(run_dir)
    assert [i for i, _ in RunFolder(run_dir).checkpoints()] == [4, 6, 8]
    (run_dir / "checkpoints" / "ckpt-0000006.keras").rename(
        run_dir / "checkpoints" / "ckpt-0000006.partial.keras"
    )
    (run_dir / "checkpoints" / "ckpt-0000008.keras").unlink()
    state.update(
        iteration=4,
        epoch=2,
        finished=False,
        checkpoint="checkpoints/ckpt-0000004.keras",
    )
    (run_dir / "state.json").write_text(json.dumps(state))
    result = train(recipe(), run_dir, verbose=0)
    assert result.start_iteration == 4 and result.iteration == 8
    assert not list(run_dir.rglob("*.partial*"))
    assert [i for i, _ in RunFolder(run_dir).checkpoints()] == [4, 6, 8]
    assert model_state(run_dir / "last.keras")[0] == 8
    # The resumed run ends where the uninterrupted one ended.
    _, _, resumed = model_state(run_dir / "last.keras")
    _, _, whole = model_state(finished_run / "last.keras")
    for a, b in zip(resumed, whole):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.large
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    real_build_dataset = datasets_module.build_dataset

    def poisoned(config, split, **kwargs):
        dataset = real_build_dataset(config, split, **kwargs)
        if split != "train":
            return dataset
        start = kwargs.get("start_batch", 0)

        def poison(index, batch):
            # NaN frames from the third iteration on.
            bad = index + start >= 2
            return tf.where(bad, batch * np.float32("nan"), batch)

        return dataset.enumerate().map(poison)

    monkeypatch.setattr(datasets_module, "build_dataset", poisoned)
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError) as error:
        train(recipe(), run_dir, verbose=0)
    message = str(error.value)
    assert "iteration 3" in message and "nan" in message
    assert "iteration 2, is intact" in message
    state = read_state(run_dir)
    assert state["iteration"] == 2 and not state["finished"]
    assert [i for i, _ in RunFolder(run_dir).checkpoints()] == [2]
    step, _, weights = model_state(run_dir / state["checkpoint"])
    assert step == 2
    assert all(np.all(np.isfinite(w)) for w in weights)
    assert model_state(run_dir / "last.keras")[0] == 2


@pytest.mark.large
def test_tensorboard_logs_losses_schedule_learning_rate_and_images(
    finished_run,
):
    run_dir = finished_run

    def read(folder):
        found = {}
        for path in sorted((run_dir / "logs" / folder).glob("events.*")):
            for event in tf.compat.v1.train.summary_iterator(str(path)):
                for value in event.summary.value:
                    found.setdefault(value.tag, []).append((event.step, value))
        return found

    train_tags = read("train")
    for tag in (
        "loss",
        "mse",
        "decouple",
        "learning_rate",
        "schedule/true_frame_prob_encoder",
        "schedule/true_frame_prob_decoder",
        "iterations_per_second",
    ):
        assert [s for s, _ in train_tags[tag]] == list(range(1, 9)), tag

    def scalar(value):
        return float(tf.make_ndarray(value.tensor))

    lr = [scalar(v) for _, v in train_tags["learning_rate"]]
    np.testing.assert_allclose(lr, 1e-3, rtol=1e-6)
    # Reverse sampling with step_1=2, step_2=6: eta 0.5 before iteration 2,
    # then linear to 0 at 6.
    decoder = [
        scalar(v) for _, v in train_tags["schedule/true_frame_prob_decoder"]
    ]
    np.testing.assert_allclose(
        decoder, [0.5, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0, 0.0], atol=1e-6
    )
    validation = read("validation")
    for tag in ("loss", "mse", "decouple", "predictions"):
        assert [s for s, _ in validation[tag]] == [4, 8], tag
    # The grid of 2 sequences of 3 + 2 frames, 16 pixels upscaled to 32.
    width, height, png = tf.make_ndarray(validation["predictions"][0][1].tensor)
    grid = tf.io.decode_png(png).numpy()
    assert grid.shape == (int(height), int(width), 3)
    assert grid.shape[0] > 2 * 2 * 32 and grid.shape[1] > 5 * 32
    assert "recipe" in train_tags


def test_cosine_schedule_resumes_on_its_curve(tmp_path):
    cosine = {
        "learning_rate_schedule": "cosine",
        "final_learning_rate": 1e-5,
        "checkpoint_every": 4,
    }
    whole = tmp_path / "whole"
    train(recipe(train=cosine), whole, verbose=0)
    # The same run stopped at its checkpoint of iteration 4, then resumed.
    resumed = copy_run(whole, tmp_path)
    state = read_state(resumed)
    (resumed / "checkpoints" / "ckpt-0000008.keras").unlink()
    state.update(
        iteration=4, epoch=1, finished=False,
        checkpoint="checkpoints/ckpt-0000004.keras",
    )
    (resumed / "state.json").write_text(json.dumps(state))
    train(recipe(train=cosine), resumed, verbose=0)
    for run_dir in (whole, resumed):
        model = keras.saving.load_model(run_dir / "last.keras")
        # Two optimiser steps per iteration (model.reverse_input).
        assert int(model.optimizer.iterations) == 16
        # At the last step the rate has reached the final one.
        assert float(keras.ops.convert_to_numpy(
            model.optimizer.learning_rate
        )) == pytest.approx(1e-5, rel=1e-4)
    for a, b in zip(model_state(resumed / "last.keras")[2],
                    model_state(whole / "last.keras")[2]):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # TensorBoard logs the rate of each iteration's last step: half a cosine
    # from 1e-3 to 1e-5 over the 16 steps.
    rates = {}
    for path in sorted((whole / "logs" / "train").glob("events.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == "learning_rate":
                    rates[event.step] = float(tf.make_ndarray(value.tensor))
    steps = np.arange(1, 9)
    progress = (2 * steps - 1) / 16
    curve = 1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + np.cos(np.pi * progress))
    np.testing.assert_allclose([rates[s] for s in steps], curve, rtol=1e-5)
