"""Tiny recipes and subprocess helpers for the workflow tests."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
from keras import ops

from predrnn_keras import recipe_config

REPO = Path(__file__).resolve().parent.parent

# 16x16 frames, 2 layers of 4 channels: an iteration takes milliseconds.
TINY = {
    "model": {
        "variant": "predrnn_v2",
        "num_hidden": [4, 4],
        "filter_size": 3,
        "patch_size": 4,
        "input_length": 3,
        "r_sampling_step_1": 2,
        "r_sampling_step_2": 6,
        "r_exp_alpha": 2.0,
    },
    "data": {
        "kind": "moving_mnist",
        "image_size": 16,
        "digit_size": 8,
        "num_sequences": 8,
    },
    "train": {
        "iterations": 8,
        "batch_size": 2,
        "learning_rate": 1e-3,
        "total_length": 5,
        "eval_every": 4,
        "checkpoint_every": 2,
        "log_every": 1,
        "val_batches": 2,
        "image_sequences": 2,
        # Pinned: "auto" picks mixed_bfloat16 on CPUs with bfloat16
        # instructions, and the tests compare numbers to float precision.
        "precision": "float32",
    },
    "evaluate": {
        "horizon": 4,
        "batch_size": 4,
        "save_sequences": 2,
    },
}


def tiny_recipe(**sections) -> dict:
    """TINY with `section={key: value}` updates, as a raw dict."""
    raw = {name: dict(table) for name, table in TINY.items()}
    for name, table in sections.items():
        raw.setdefault(name, {}).update(table)
    return raw


def write_recipe(path: Path, raw: dict) -> Path:
    path.write_text(recipe_config.dumps_recipe(raw))
    return path


def script_env() -> dict:
    env = dict(os.environ)
    env["KERAS_BACKEND"] = keras.backend.backend()
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO), env.get("PYTHONPATH")) if p
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def script(name: str, *args) -> list:
    return [sys.executable, str(REPO / name), *map(str, args)]


def run_script(name: str, *args, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        script(name, *args),
        env=script_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    """Runs `python *args` in the repository; fails the test on an error."""
    done = subprocess.run(
        [sys.executable, *map(str, args)],
        env=env or script_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def run_python_json(code: str, env: dict, timeout=300):
    """Runs `python -c code` in a fresh process; its last output line, read
    as JSON."""
    out = run_python("-c", code, env=env, timeout=timeout)
    return json.loads(out.stdout.strip().splitlines()[-1])


def copy_run(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of a (read-only, module-scoped) run folder in `tmp_path`."""
    target = tmp_path / "run"
    shutil.copytree(run_dir, target)
    return target


def read_state(run_dir: Path) -> dict:
    return json.loads((run_dir / "state.json").read_text())


def model_state(path: Path):
    """`(sampling_step, optimizer iterations, trainable weights)` of a
    saved model."""
    model = keras.saving.load_model(path)
    return (
        int(ops.convert_to_numpy(model.sampling_step)),
        int(ops.convert_to_numpy(model.optimizer.iterations)),
        [ops.convert_to_numpy(w) for w in model.trainable_weights],
    )


def kill_after_first_checkpoint(command, run_dir: Path, env=None, timeout=240):
    """Starts `command` (a train.py run into `run_dir`), SIGKILLs it as soon
    as a checkpoint is committed (state.json exists) and returns the state
    the killed run left."""
    process = subprocess.Popen(
        command,
        env=env or script_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + timeout
    state = None
    while time.time() < deadline and process.poll() is None:
        try:
            state = read_state(run_dir)
        except FileNotFoundError:
            pass  # no checkpoint committed yet
        except json.JSONDecodeError as error:
            # state.json is replaced atomically: it is never seen torn.
            raise AssertionError(f"torn state.json: {error}") from None
        if state is not None:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, process.stderr.read()
    return read_state(run_dir)


def randomize(model, seed=0):
    """Gives `model` random weights of a scale that makes its predictions
    differ from frame to frame (an untrained model predicts near-constants)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for weight in model.trainable_weights:
        value = rng.normal(0.0, 0.3, tuple(weight.shape))
        weight.assign(value.astype("float32"))


def untrained_run(run_dir, data=None, **sections) -> Path:
    """A run folder of the tiny recipe holding a randomised best.keras.

    `data`, if given, replaces the whole `[data]` table; `sections` update
    the others.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True)
    raw = tiny_recipe(**sections)
    if data is not None:
        raw["data"] = data
    recipe = recipe_config.recipe_from_dict(raw)
    recipe_config.dump_recipe(recipe, run_dir / "recipe.toml")
    model = recipe_config.build_model(recipe)
    randomize(model)
    model.optimizer.build(model.trainable_variables)
    model.save(run_dir / "best.keras")
    return run_dir
