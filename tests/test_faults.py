"""Faults a long training meets: stop signals, damaged checkpoints and state,
a full disk, a kill while a checkpoint is written."""

import errno
import json
import os
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

from predrnn_keras import recipe_config
from predrnn_keras.cli import evaluate as evaluate_cli
from predrnn_keras.cli import train as train_cli
from predrnn_keras.predict import load_model_and_recipe
from predrnn_keras.run_folder import RunFolder
from predrnn_keras.run_folder import RunFolderError
from predrnn_keras.run_folder import load_run_model
from predrnn_keras.training import train
from predrnn_keras.training import trainer as trainer_module
from predrnn_keras.utils import files
from tests.workflow_helpers import REPO
from tests.workflow_helpers import copy_run
from tests.workflow_helpers import model_state
from tests.workflow_helpers import read_state
from tests.workflow_helpers import script_env
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

pytestmark = pytest.mark.large

# One epoch of 8 iterations: a signal lands inside it.
LONG_EPOCHS = {"iterations": 8, "eval_every": 8, "checkpoint_every": 8}


def recipe(**train_keys):
    return recipe_config.recipe_from_dict(tiny_recipe(train=train_keys))


def close(a_path, b_path):
    step_a, opt_a, weights_a = model_state(a_path)
    step_b, opt_b, weights_b = model_state(b_path)
    assert (step_a, opt_a) == (step_b, opt_b)
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Uninterrupted runs of the tiny recipe: `{"short": epochs of 2,
    "long": one epoch of 8}` (read-only)."""
    root = tmp_path_factory.mktemp("whole")
    runs = {}
    for name, keys in (("short", {}), ("long", LONG_EPOCHS)):
        runs[name] = root / name
        result = train(recipe(**keys), runs[name], verbose=0)
        assert result.status == "finished" and result.iteration == 8
    return runs


class SignalAt(keras.callbacks.Callback):
    """Sends this process `signum` at the end of iteration `at`."""

    def __init__(self, signum, at):
        super().__init__()
        self.signum, self.at, self.count = signum, at, 0

    def on_train_batch_end(self, batch, logs=None):
        self.count += 1
        if self.count == self.at:
            os.kill(os.getpid(), self.signum)


def with_signal(monkeypatch, signum, at):
    real = trainer_module._callbacks

    def callbacks(context, guard):
        return [SignalAt(signum, at)] + real(context, guard)

    monkeypatch.setattr(trainer_module, "_callbacks", callbacks)


@pytest.mark.parametrize(
    "signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)]
)
def test_a_stop_signal_checkpoints_the_iteration_and_resume_matches(
    signum, status, whole, tmp_path, monkeypatch, capsys
):
    path = write_recipe(tmp_path / "tiny.toml", tiny_recipe(train=LONG_EPOCHS))
    run_dir = tmp_path / "run"
    argv = [str(path), "--run-dir", str(run_dir), "--quiet"]
    with monkeypatch.context() as patch:
        with_signal(patch, signum, at=3)
        assert train_cli.main(argv) == status
    err = capsys.readouterr().err
    name = signal.Signals(signum).name
    assert f"{name}: finishing this iteration" in err
    assert f"{name}: training stopped; checkpoint" in err
    assert "at iteration 3" in err
    # The checkpoint of iteration 3, inside the first epoch of 8.
    state = read_state(run_dir)
    assert state["iteration"] == 3 and not state["finished"]
    assert state["checkpoint"] == "checkpoints/ckpt-0000003.keras"
    assert model_state(run_dir / "last.keras")[0] == 3
    # Handlers are restored after training.
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    # The same command resumes, and ends where the uninterrupted run did.
    assert train_cli.main(argv) == 0
    assert read_state(run_dir)["finished"]
    close(run_dir / "last.keras", whole["long"] / "last.keras")


def test_a_second_signal_stops_at_once(tmp_path):
    code = (
        "import os, signal, time\n"
        "from predrnn_keras.callbacks import StopSignal\n"
        "stop = StopSignal(None)\n"
        "stop.install()\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(0.5)\n"
        "assert stop.signum == signal.SIGTERM\n"
        "print('first signal recorded', flush=True)\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(5)\n"
        "print('still running')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=script_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert "first signal recorded" in done.stdout
    assert "still running" not in done.stdout


def truncate(path, keep=200):
    data = path.read_bytes()
    os.unlink(path)  # a new inode: hard links (last.keras) stay whole
    path.write_bytes(data[:keep])


def roll_back(run_dir, iteration):
    """Makes `run_dir` look killed after committing `iteration`."""
    state = read_state(run_dir)
    state.update(
        iteration=iteration,
        epoch=iteration // 2,
        finished=False,
        checkpoint=f"checkpoints/ckpt-{iteration:07d}.keras",
    )
    (run_dir / "state.json").write_text(json.dumps(state))


def test_a_damaged_newest_checkpoint_gives_way_to_an_older_one(
    whole, tmp_path, capsys
):
    run_dir = copy_run(whole["short"], tmp_path)
    (run_dir / "checkpoints" / "ckpt-0000008.keras").unlink()
    roll_back(run_dir, 6)
    truncate(run_dir / "checkpoints" / "ckpt-0000006.keras")
    result = train(recipe(), run_dir, verbose=0)
    out = capsys.readouterr().err
    assert (
        "Resuming from checkpoints/ckpt-0000004.keras (iteration 4): "
        "ckpt-0000006.keras does not load" in out
    )
    assert "moved to ckpt-0000006.keras.damaged" in out
    assert result.start_iteration == 4 and result.iteration == 8
    assert (run_dir / "checkpoints" / "ckpt-0000006.keras.damaged").is_file()
    close(run_dir / "last.keras", whole["short"] / "last.keras")


@pytest.mark.parametrize("damage", ["garbage", "missing_keys", "deleted"])
def test_a_damaged_state_is_rebuilt_from_the_checkpoints(
    damage, whole, tmp_path, capsys
):
    run_dir = copy_run(whole["short"], tmp_path)
    (run_dir / "checkpoints" / "ckpt-0000008.keras").unlink()
    roll_back(run_dir, 6)
    state_path = run_dir / "state.json"
    if damage == "garbage":
        state_path.write_bytes(b"\x00\x00{trunc")
    elif damage == "missing_keys":
        state_path.write_text('{"epoch": 3}')
    else:
        state_path.unlink()
    result = train(recipe(), run_dir, verbose=0)
    out = capsys.readouterr().err
    assert "Resuming from checkpoints/ckpt-0000006.keras (iteration 6)" in out
    assert "state.json is" in out
    assert result.start_iteration == 6 and result.iteration == 8
    close(run_dir / "last.keras", whole["short"] / "last.keras")


def test_nothing_to_resume_from_is_a_one_line_error(whole, tmp_path):
    run_dir = copy_run(whole["short"], tmp_path)
    (run_dir / "state.json").write_text("not json")
    for _, path in RunFolder(run_dir).checkpoints():
        truncate(path)
    with pytest.raises(RunFolderError) as caught:
        train(recipe(), run_dir, verbose=0)
    message = str(caught.value)
    assert "\n" not in message
    assert "state.json is damaged: not valid JSON" in message
    assert "no model loads" in message and "--overwrite" in message
    # Nothing was started over or moved: the folder is as it was.
    assert [i for i, _ in RunFolder(run_dir).checkpoints()] == [4, 6, 8]
    assert not list(run_dir.rglob("*.damaged"))
    assert (run_dir / "state.json").read_text() == "not json"


def test_evaluate_and_predict_take_the_newest_model_that_loads(
    whole, tmp_path, capsys
):
    run_dir = copy_run(whole["short"], tmp_path)
    truncate(run_dir / "best.keras")
    model, path = load_run_model(run_dir / "best.keras", run_dir)
    assert path == run_dir / "last.keras"
    assert "Loaded" in capsys.readouterr().err
    out_dir = tmp_path / "evaluation"
    status = evaluate_cli.main(
        [str(run_dir), "--out", str(out_dir), "--quiet"]
    )
    assert status == 0
    assert "skipped best.keras" in capsys.readouterr().err
    assert (out_dir / "metrics.json").is_file()
    model, _, _, saved_recipe = load_model_and_recipe(run_dir)
    assert int(keras.ops.convert_to_numpy(model.sampling_step)) == 8
    assert saved_recipe["train"]["iterations"] == 8
    assert "skipped best.keras" in capsys.readouterr().err


def test_a_kill_while_a_checkpoint_is_written_leaves_the_good_one(
    whole, tmp_path, monkeypatch
):
    run_dir = tmp_path / "run"
    real_fsync = files._fsync

    def killed_while_writing(path):
        if "ckpt-0000004" in str(path):
            raise KeyboardInterrupt  # as if the process died here
        real_fsync(path)

    with monkeypatch.context() as patch:
        patch.setattr(files, "_fsync", killed_while_writing)
        with pytest.raises(KeyboardInterrupt):
            train(recipe(), run_dir, verbose=0)
    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / "ckpt-0000004.partial.keras").is_file()
    assert not (checkpoints / "ckpt-0000004.keras").exists()
    assert read_state(run_dir)["iteration"] == 2
    result = train(recipe(), run_dir, verbose=0)
    assert result.start_iteration == 2 and result.iteration == 8
    assert not list(run_dir.rglob("*.partial*"))
    close(run_dir / "last.keras", whole["short"] / "last.keras")


def test_a_full_disk_is_one_line_and_the_run_resumes(
    whole, tmp_path, monkeypatch, capsys
):
    path = write_recipe(tmp_path / "tiny.toml", tiny_recipe())
    run_dir = tmp_path / "run"
    argv = [str(path), "--run-dir", str(run_dir), "--quiet"]
    real_save = keras.Model.save

    def full_disk(model, filepath, *args, **kwargs):
        if "ckpt-0000006" in str(filepath):
            with open(filepath, "wb") as f:
                f.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, "No space left on device", filepath)
        return real_save(model, filepath, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(keras.Model, "save", full_disk)
        assert train_cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(
        f"error: cannot write {run_dir / 'checkpoints' / 'ckpt-0000006.keras'}"
        ": No space left on device, "
    )
    assert "free, about" in err[0] and "needed" in err[0]
    # The previous checkpoint is committed and whole; no partial file left.
    assert read_state(run_dir)["iteration"] == 4
    assert model_state(run_dir / "last.keras")[0] == 4
    assert not list(run_dir.rglob("*.partial*"))
    # With space again, the same command resumes.
    assert train_cli.main(argv) == 0
    close(run_dir / "last.keras", whole["short"] / "last.keras")


def unmount(folder) -> bool:
    """Unmounts a test's tmpfs; lazily if a file in it is still open.
    True if nothing held it."""
    done = subprocess.run(["umount", str(folder)], capture_output=True,
                          check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    return done.returncode == 0


def mount_tmpfs(folder, size):
    folder.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
             str(folder)],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="mounting a small tmpfs needs root",
)
def test_a_really_full_disk(tmp_path, capsys):
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "400k"):
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        path = write_recipe(
            tmp_path / "tiny.toml",
            tiny_recipe(train={"keep_checkpoints": 100, "checkpoint_every": 1,
                               "eval_every": 8}),
        )
        run_dir = disk / "run"
        argv = [str(path), "--run-dir", str(run_dir), "--quiet"]
        status = train_cli.main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert status == 1, err
        assert len(err) == 1 and err[0].startswith("error: cannot write ")
        assert "No space left on device" in err[0]
        state = read_state(run_dir)
        saved = model_state(run_dir / state["checkpoint"])
        assert saved[0] == state["iteration"]
        assert not list(run_dir.rglob("*.partial*"))
    finally:
        unmount(disk)


def test_interrupted_outputs_are_marked_and_never_taken_for_whole(
    whole, tmp_path, monkeypatch, capsys
):
    from predrnn_keras.cli import predict as predict_cli
    from predrnn_keras.evaluation import evaluator
    from predrnn_keras.predict import forecaster

    clips = np.random.default_rng(0).uniform(0, 1, (2, 3, 16, 16))
    np.save(tmp_path / "clips.npy", clips.astype(np.float32))
    out = tmp_path / "forecast"
    evaluation = tmp_path / "evaluation"
    predict_argv = [
        str(tmp_path / "clips.npy"), "--model", str(whole["short"]),
        "--out", str(out), "--quiet",
    ]
    evaluate_argv = [str(whole["short"]), "--out", str(evaluation), "--quiet"]

    real_write = forecaster._Run._write_batch

    def written_then_interrupted(self, *args, **kwargs):
        real_write(self, *args, **kwargs)
        raise KeyboardInterrupt

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(forecaster._Run, "_write_batch", written_then_interrupted)
        patch.setattr(evaluator, "save_sequence", interrupted)
        with pytest.raises(KeyboardInterrupt):
            predict_cli.main(predict_argv)
        with pytest.raises(KeyboardInterrupt):
            evaluate_cli.main(evaluate_argv)
    for folder in (out, evaluation):
        assert (folder / files.INCOMPLETE_FILE).is_file()
    capsys.readouterr()
    assert predict_cli.main(predict_argv) == 2
    assert "holds an interrupted forecast" in capsys.readouterr().err
    assert evaluate_cli.main(evaluate_argv) == 2
    assert "an interrupted evaluation" in capsys.readouterr().err
    # --overwrite replaces the interrupted forecast, which ends whole.
    assert predict_cli.main(predict_argv + ["--overwrite"]) == 0
    assert not (out / files.INCOMPLETE_FILE).exists()
    assert (out / "summary.json").is_file()


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="mounting a small tmpfs needs root",
)
def test_evaluate_and_predict_on_a_really_full_disk(whole, tmp_path, capsys):
    from predrnn_keras.cli import predict as predict_cli

    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "24k"):
        pytest.skip("this machine does not let the tests mount a tmpfs")
    try:
        clips = np.random.default_rng(0).uniform(0, 1, (4, 3, 16, 16))
        np.save(tmp_path / "clips.npy", clips.astype(np.float32))
        commands = {
            predict_cli.main: [
                str(tmp_path / "clips.npy"), "--model", str(whole["short"]),
                "--out", str(disk / "forecast"), "--quiet",
            ],
            evaluate_cli.main: [
                str(whole["short"]), "--out", str(disk / "evaluation"),
                "--quiet",
            ],
        }
        for main, argv in commands.items():
            capsys.readouterr()
            status = main(argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert status == 1, err
            assert len(err) == 1, err
            assert err[0].startswith(f"error: cannot write {disk}/"), err
            assert "No space left on device" in err[0]
            for leftover in disk.iterdir():
                shutil.rmtree(leftover)
    finally:
        released = unmount(disk)
    # No file on the full disk is left open by either command.
    assert released, f"a file under {disk} is still open"


def test_a_read_only_folder_is_one_line():
    error = files.as_write_error(
        OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x.keras"),
        "/mnt/ro/x.keras",
    )
    assert str(error).startswith(
        "cannot write /mnt/ro/x.keras: Read-only file system"
    )
    assert str(error).endswith("make it writable or choose another folder")
    wrapped = RuntimeError("h5py failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert files.write_error_errno(wrapped) == errno.ENOSPC
    assert files.write_error_errno(ValueError("no")) is None
