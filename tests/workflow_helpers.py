"""Tiny recipes and subprocess helpers for the workflow tests."""

import os
import subprocess
import sys
from pathlib import Path

import keras

from predrnn_keras import config as recipe_config

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
