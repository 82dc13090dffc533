"""Data-parallel training: recipe table, data shards, 2 virtual CPU devices
and 2 local processes.

Device set-up must come before TensorFlow or JAX runs anything, so every
multi-device run happens in a fresh subprocess; the single-device runs they
are compared with run in this process on the same backend.

Tolerances: with the same global batch and the same masks, a step on two
replicas computes the one-device step with the per-replica gradient sums
added in another order, so results agree to float32 rounding (measured:
weights within 6e-8 after 3 iterations of 2 Adam steps, losses within 1e-7).
The tests allow 1e-5: 100x the measured gap, and orders of magnitude below
what a wrong mask (a different input frame, loss changes ~1e-2), a wrong
loss scale (2x gradients) or a double schedule step would produce.
"""

import json
import socket
import subprocess

import keras
import numpy as np
import pytest

from predrnn_keras import recipe_config
from predrnn_keras.recipe_config import RecipeError
from predrnn_keras.data import build_dataset
from predrnn_keras.distribution import DistributionError
from predrnn_keras.distribution import Placement
from predrnn_keras.distribution import setup_distribution
from predrnn_keras.training import RunFolder
from predrnn_keras.training import train
from tests.workflow_helpers import REPO
from tests.workflow_helpers import kill_after_first_checkpoint
from tests.workflow_helpers import model_state
from tests.workflow_helpers import read_state
from tests.workflow_helpers import run_python
from tests.workflow_helpers import run_script
from tests.workflow_helpers import script
from tests.workflow_helpers import script_env
from tests.workflow_helpers import tiny_recipe
from tests.workflow_helpers import write_recipe

BACKEND = keras.backend.backend()
multi_device = pytest.mark.skipif(
    BACKEND == "torch",
    reason="the PyTorch backend has no multi-device training (tested below)",
)
TOLERANCE = 1e-5


def assert_same_weights(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=TOLERANCE)


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def quiet_env(**extra):
    env = script_env()
    for name in ("TF_CONFIG", "XLA_FLAGS", "KERAS_DISTRIBUTION_PROCESS_ID"):
        env.pop(name, None)
    env.update(extra)
    return env


# The recipe table ------------------------------------------------------


def test_recipe_distribution_table_defaults_and_errors():
    recipe = recipe_config.recipe_from_dict(tiny_recipe())
    assert recipe["distribution"] == {
        "mode": "none",
        "devices": 0,
        "cpu_devices": 0,
        "coordinator_address": "",
        "num_processes": 0,
        "learning_rate_scaling": "none",
    }
    with pytest.raises(RecipeError, match=r"distribution\.mode.*'mirrored'"):
        recipe_config.recipe_from_dict(
            tiny_recipe(distribution={"mode": "mirrored"})
        )
    with pytest.raises(RecipeError, match=r"distribution\.replicas"):
        recipe_config.recipe_from_dict(
            tiny_recipe(distribution={"replicas": 2})
        )
    # The table does not take part in the resume check: the same run may
    # continue on another number of devices.
    other = recipe_config.recipe_from_dict(
        tiny_recipe(distribution={"mode": "data_parallel"})
    )
    assert recipe_config.recipe_differences(recipe, other) == []


def test_placement_splits_the_global_batch_and_keeps_the_learning_rate():
    placement = Placement(mode="data_parallel", num_replicas=4)
    placement.check_batch_size(8)
    with pytest.raises(
        DistributionError, match=r"train\.batch_size=6 .* multiple of 4"
    ):
        placement.check_batch_size(6)
    assert placement.learning_rate(3e-4, "none") == 3e-4
    assert placement.learning_rate(3e-4, "linear") == pytest.approx(1.2e-3)
    assert "global batch 8 = 4 x 2" in placement.describe(8)


def test_pytorch_backend_refuses_several_devices():
    for mode in ("data_parallel", "multi_worker"):
        with pytest.raises(DistributionError, match="PyTorch backend"):
            setup_distribution({"mode": mode}, backend="torch")
    single = setup_distribution({"mode": "none"}, backend="torch")
    assert single.num_replicas == 1 and single.is_chief


def test_multi_worker_without_a_cluster_says_what_is_missing(monkeypatch):
    for name in (
        "TF_CONFIG",
        "KERAS_DISTRIBUTION_PROCESS_ID",
        "KERAS_DISTRIBUTION_JOB_ADDRESSES",
        "KERAS_DISTRIBUTION_NUM_PROCESSES",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(DistributionError, match="TF_CONFIG"):
        setup_distribution({"mode": "multi_worker"}, backend="tensorflow")
    with pytest.raises(DistributionError, match="--process-id"):
        setup_distribution({"mode": "multi_worker"}, backend="jax")
    with pytest.raises(DistributionError, match="coordinator_address"):
        setup_distribution(
            {"mode": "multi_worker"}, backend="jax", process_id=0
        )
    with pytest.raises(DistributionError, match="num_processes"):
        setup_distribution(
            {"mode": "multi_worker", "coordinator_address": "localhost:1"},
            backend="jax",
            process_id=0,
        )


@pytest.mark.skipif(BACKEND != "torch", reason="the PyTorch refusal")
def test_train_py_on_pytorch_refuses_data_parallel(tmp_path):
    path = write_recipe(tmp_path / "tiny.toml", tiny_recipe())
    run_dir = tmp_path / "run"
    done = run_script(
        "train.py", path, "--run-dir", run_dir, "--distribution",
        "data_parallel",
    )
    assert done.returncode == 2
    assert "not supported on the PyTorch backend" in done.stderr
    assert "Traceback" not in done.stderr
    assert not run_dir.exists()


# Data shards -------------------------------------------------------------


def test_shards_partition_every_global_batch():
    data = {"kind": "moving_mnist", "image_size": 16, "digit_size": 8}
    kwargs = dict(batch_size=4, total_length=5, patch_size=4, seed=3)
    whole = build_dataset(data, "train", **kwargs).take(3)
    whole = [np.asarray(b) for b in whole]
    parts = [
        [
            np.asarray(b)
            for b in build_dataset(
                data, "train", shard_index=i, num_shards=2, **kwargs
            ).take(3)
        ]
        for i in range(2)
    ]
    for n, batch in enumerate(whole):
        assert parts[0][n].shape == (2, 5, 16, 16, 1)
        np.testing.assert_array_equal(
            np.concatenate([parts[0][n], parts[1][n]]), batch
        )
        # No sequence read by both shards.
        assert not np.array_equal(parts[0][n][0], parts[1][n][0])
    # Resuming a shard at batch 2 gives that shard's batch 2.
    resumed = build_dataset(
        data, "train", shard_index=1, num_shards=2, start_batch=2, **kwargs
    )
    np.testing.assert_array_equal(np.asarray(next(iter(resumed))), parts[1][2])
    with pytest.raises(ValueError, match="batch_size=3, num_shards=2"):
        build_dataset(data, "train", shard_index=0, num_shards=2,
                      **{**kwargs, "batch_size": 3})
    with pytest.raises(ValueError, match="shard_index=2, num_shards=2"):
        build_dataset(data, "train", shard_index=2, num_shards=2, **kwargs)


# Two virtual CPU devices ------------------------------------------------


def distributed_fit(mode, out):
    run_python(
        REPO / "tests" / "distributed_fit.py", mode, out, env=quiet_env(),
        timeout=600,
    )
    return np.load(out)


@multi_device
@pytest.mark.large
def test_two_devices_train_as_one_device_on_the_same_global_batch(tmp_path):
    one = distributed_fit("none", tmp_path / "one.npz")
    two = distributed_fit("data_parallel", tmp_path / "two.npz")
    assert int(one["replicas"]) == 1 and int(two["replicas"]) == 2
    # The schedule step counts global steps (3 iterations), not replica
    # steps; reverse_input makes two optimiser steps per iteration.
    assert int(two["sampling_step"]) == int(one["sampling_step"]) == 3
    assert int(two["iterations"]) == int(one["iterations"]) == 6
    # The replicas' masks differ, and together they are the one-device mask
    # of the global batch.
    masks = two["masks"]
    assert masks.shape == (2, 2, 5)
    assert not np.array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(np.concatenate(list(masks)), one["masks"][0])
    for name in ("loss", "mse", "decouple"):
        np.testing.assert_allclose(two[name], one[name], rtol=TOLERANCE)
    names = sorted(k for k in one.files if k.startswith("w"))
    assert_same_weights([one[k] for k in names], [two[k] for k in names])


@multi_device
@pytest.mark.large
def test_train_py_on_two_devices_resumes_after_sigkill(tmp_path):
    raw = tiny_recipe(
        train={
            "iterations": 8,
            "batch_size": 4,
            "checkpoint_every": 1,
            "eval_every": 4,
            "keep_checkpoints": 100,
        },
        distribution={"cpu_devices": 2},
    )
    path = write_recipe(tmp_path / "tiny.toml", raw)
    # The reference: one device, in this process.
    whole = tmp_path / "whole"
    train(recipe_config.load_recipe(path), whole, verbose=0)

    killed = tmp_path / "killed"
    command = script(
        "train.py", path, "--run-dir", killed, "--quiet",
        "--distribution", "data_parallel",
    )
    killed_at = kill_after_first_checkpoint(
        command, killed, env=quiet_env(), timeout=300
    )["iteration"]
    assert killed_at < 8

    done = run_script(
        "train.py", path, "--run-dir", killed, "--distribution",
        "data_parallel", timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"Resuming {killed} at iteration {killed_at}/8" in done.stdout
    assert "data_parallel on 2 replicas" in done.stdout
    assert "global batch 4 = 2 x 2" in done.stdout
    final = read_state(killed)
    assert final["finished"] and final["iteration"] == 8
    step_a, opt_a, weights_a = model_state(whole / "last.keras")
    step_b, opt_b, weights_b = model_state(killed / "last.keras")
    assert step_a == step_b == 8 and opt_a == opt_b == 16
    assert_same_weights(weights_a, weights_b)
    # One writer: one event file per TensorBoard folder.
    for folder in ("train", "validation"):
        events = list((killed / "logs" / folder).glob("events.out.tfevents.*"))
        assert len(events) == 2  # the killed run's and the resumed run's


# Two processes on this machine ------------------------------------------


@multi_device
@pytest.mark.large
def test_two_processes_train_and_only_the_chief_writes(tmp_path):
    raw = tiny_recipe(
        train={
            "iterations": 4,
            "batch_size": 4,
            "checkpoint_every": 2,
            "eval_every": 2,
            "keep_checkpoints": 10,
        }
    )
    path = write_recipe(tmp_path / "tiny.toml", raw)
    one = tmp_path / "one"
    train(recipe_config.load_recipe(path), one, verbose=0)

    run_dir = tmp_path / "two"
    ports = [free_port(), free_port()]
    processes = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        extra = {"TMPDIR": str(scratch)}
        args = ["--distribution", "multi_worker", "--quiet"]
        if BACKEND == "tensorflow":
            extra["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {
                        "worker": [f"localhost:{port}" for port in ports]
                    },
                    "task": {"type": "worker", "index": index},
                }
            )
        else:
            args += [
                "--process-id", index,
                "--set", f'distribution.coordinator_address="localhost:{ports[0]}"',
                "--set", "distribution.num_processes=2",
            ]
        processes.append(
            subprocess.Popen(
                script("train.py", path, "--run-dir", run_dir, *args),
                env=quiet_env(**extra),
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=420))
    finally:
        for process in processes:
            process.kill()
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 0, err[-3000:]
    assert "Process 0 of 2 (chief" in outputs[0][0]
    assert "Process 1 of 2:" in outputs[1][0]

    state = read_state(run_dir)
    assert state["finished"] and state["iteration"] == 4
    checkpoints = [i for i, _ in RunFolder(run_dir).checkpoints()]
    assert checkpoints == [2, 4]
    for folder in ("train", "validation"):
        events = list((run_dir / "logs" / folder).glob("events.out.tfevents.*"))
        assert len(events) == 1, events
    # The worker's scratch copies are gone.
    for index in range(2):
        assert list((tmp_path / f"tmp{index}").glob("predrnn-worker*")) == []
    step_a, opt_a, weights_a = model_state(one / "last.keras")
    step_b, opt_b, weights_b = model_state(run_dir / "last.keras")
    assert step_a == step_b == 4 and opt_a == opt_b == 8
    assert_same_weights(weights_a, weights_b)
