"""The run folder's layout, lock and opening rules, and how evaluation and
export find their model (no training here: see test_train_resume.py)."""

import pytest

from predrnn_keras import recipe_config
from predrnn_keras.run_folder import RunFolder
from predrnn_keras.run_folder import RunFolderError
from predrnn_keras.run_folder import checkpoint_iteration
from predrnn_keras.run_folder import default_evaluation_dir
from predrnn_keras.run_folder import evaluation_log_dir
from predrnn_keras.run_folder import model_file
from predrnn_keras.run_folder import new_output_dir
from predrnn_keras.run_folder import resolve_target
from predrnn_keras.utils import files
from tests.workflow_helpers import tiny_recipe


@pytest.fixture
def recipe():
    return recipe_config.recipe_from_dict(tiny_recipe())


def test_open_writes_the_recipe_and_resumes_the_same_recipe(tmp_path, recipe):
    run, state = RunFolder.open(tmp_path / "run", recipe)
    assert state is None
    assert run.read_recipe() == recipe
    # A second writer is refused while the lock is held.
    with pytest.raises(RunFolderError, match="in use"):
        RunFolder.open(run.path, recipe)
    run.unlock()

    run.checkpoint_dir.mkdir()
    for iteration in (2, 4, 6):
        run.checkpoint_path(iteration).write_text("model")
    run.write_state({"iteration": 6, "checkpoint": "checkpoints/x.keras"})
    # A write that a kill interrupted.
    files.partial_path(run.checkpoint_path(8)).write_text("half")
    again, state = RunFolder.open(run.path, recipe)
    again.unlock()
    assert state["iteration"] == 6
    assert [i for i, _ in again.checkpoints()] == [2, 4, 6]
    assert not list(run.path.rglob(f"*{files.PARTIAL_MARK}*"))
    again.prune_checkpoints(keep=1, protect=run.checkpoint_path(4))
    assert [i for i, _ in again.checkpoints()] == [4, 6]
    assert checkpoint_iteration(run.checkpoint_path(6)) == 6
    assert checkpoint_iteration("checkpoints/x.keras") is None


def test_open_refuses_other_recipes_and_other_folders(tmp_path, recipe):
    run, _ = RunFolder.open(tmp_path / "run", recipe)
    run.unlock()
    other = recipe_config.recipe_from_dict(
        tiny_recipe(model={"num_hidden": [8, 8]})
    )
    with pytest.raises(RunFolderError, match=r"model\.num_hidden"):
        RunFolder.open(run.path, other)
    # --overwrite replaces a run folder, never any other folder.
    fresh, state = RunFolder.open(run.path, other, overwrite=True)
    fresh.unlock()
    assert state is None and fresh.read_recipe() == other
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "keep.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not a run folder"):
        RunFolder.open(notes, recipe, overwrite=True)
    assert (notes / "keep.txt").read_text() == "mine"


def test_resolve_target_finds_the_model_and_its_recipe(tmp_path, recipe):
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    run.write_recipe(recipe)
    with pytest.raises(RunFolderError, match="no model yet"):
        resolve_target(run.path)
    run.last_path.write_text("model")
    expected = (run.last_path, run.recipe_path, run.path)
    assert resolve_target(run.path) == expected
    run.best_path.write_text("model")
    assert model_file(run.path) == run.best_path
    assert model_file(run.path, which="last") == run.last_path
    # A .keras file in a run folder takes that folder's recipe.
    assert resolve_target(run.last_path)[1:] == (run.recipe_path, run.path)

    loose = tmp_path / "model.keras"
    loose.write_text("model")
    with pytest.raises(RunFolderError, match="--recipe"):
        resolve_target(loose)
    assert resolve_target(loose, "r.toml") == (loose, "r.toml", None)
    with pytest.raises(RunFolderError, match="not a run folder"):
        resolve_target(tmp_path)
    with pytest.raises(RunFolderError, match="Expected a run folder"):
        resolve_target(tmp_path / "missing.keras")


def test_evaluation_folders_never_overwrite_and_log_beside_training(tmp_path):
    run_dir = tmp_path / "run"
    base = default_evaluation_dir(run_dir / "best.keras", run_dir)
    assert base == run_dir / "evaluation"
    assert new_output_dir(base) == run_dir / "evaluation"
    second = new_output_dir(base)
    assert second == run_dir / "evaluation-2" and second.is_dir()
    assert evaluation_log_dir(second, run_dir) == run_dir / "logs/evaluation-2"

    loose = tmp_path / "model.keras"
    out = default_evaluation_dir(loose)
    assert out == tmp_path / "model-evaluation"
    assert evaluation_log_dir(out) == out / "logs"
