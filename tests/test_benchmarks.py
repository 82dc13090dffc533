"""The benchmark script runs end to end on a tiny configuration.

It measures nothing here (timings on shared CI machines mean nothing); it
keeps the scripts from rotting: every mode and precision on each backend with
the JSON fields; once (in the TensorFlow pass), the baseline beside it when
torch is installed with the table, and the precision-quality script.
"""

import importlib.util
import json
import subprocess
import sys

import keras
import pytest

from tests.workflow_helpers import REPO
from tests.workflow_helpers import script_env

SCRIPT = REPO / "benchmarks" / "bench_train_step.py"
TINY = ["--config", "tiny", "--image", "16", "--frames", "6", "--context",
        "3", "--batch", "2", "--warmup", "1", "--steps", "2"]


def bench(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, *args],
        env=script_env(), cwd=REPO, capture_output=True, text=True,
        timeout=600, check=False,
    )


@pytest.mark.large
def test_every_mode_and_precision_on_this_backend_as_json():
    backend = keras.backend.backend()
    done = bench("--backend", backend, "--mode", "train,inference",
                 "--precision", "float32,mixed_bfloat16", "--json")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["mode"], r["precision"]) for r in results] == [
        ("train", "float32"), ("train", "mixed_bfloat16"),
        ("inference", "float32"), ("inference", "mixed_bfloat16"),
    ]
    for r in results:
        assert r["impl"] == "predrnn_keras" and r["backend"] == backend
        assert 0 < r["ms_min"] <= r["ms_median"] <= r["ms_max"]
        assert r["sequences_per_s"] == pytest.approx(
            2 / (r["ms_median"] / 1000), rel=0.01
        )
        assert r["peak_mib"] > r["import_mib"] > 50


# The baseline, the table and the quality script's plumbing do not depend
# on the Keras backend under test (the JSON test above runs every backend, and
# tests/test_mixed_precision.py trains in both precisions on every backend):
# they run once, in the TensorFlow pass of the suite, to keep CI short.
ONE_BACKEND = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="backend-independent; runs in the TensorFlow pass",
)


@pytest.mark.large
@ONE_BACKEND
@pytest.mark.skipif(
    importlib.util.find_spec("torch") is None
    or not (REPO.parent / "shared" / "bench" / "torch_baseline.py").exists(),
    reason="needs torch and ../shared/bench/torch_baseline.py",
)
def test_table_with_the_baseline_beside():
    done = bench("--backend", keras.backend.backend(),
                 "--mode", "train,inference", "--baseline")
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[2:]]
    assert [(row[0], row[1]) for row in rows] == [
        ("train", "torch_baseline"), ("inference", "torch_baseline"),
        ("train", f"predrnn_keras[{keras.backend.backend()}]"),
        ("inference", f"predrnn_keras[{keras.backend.backend()}]"),
    ]
    # The ratio column: baseline median / our median, per mode.
    medians = {(row[0], row[1]): float(row[3]) for row in rows}
    for row in rows:
        base = medians[(row[0], "torch_baseline")]
        assert row[-1] == f"{base / float(row[3]):.2f}x"


def test_bad_arguments_are_named():
    done = bench("--precision", "float16")
    assert done.returncode == 2
    assert "--precision: 'float16' is not one of float32, mixed_bfloat16" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


@pytest.mark.large
@ONE_BACKEND
def test_precision_quality_compares_two_curves(tmp_path):
    out = tmp_path / "curves.json"
    env = script_env()
    env.pop("PYTHONPATH")  # runs as a user runs it
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "precision_quality.py"),
         "--iterations", "4", "--window", "2", "--batch", "2", "--hidden",
         "4", "--image", "32", "--frames", "12", "--json", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    curves = json.loads(out.read_text())
    assert len(curves["float32"]) == len(curves["mixed_bfloat16"]) == 4
    # Same weights, batches and masks: the first losses nearly agree, and
    # bfloat16 still shows.
    first = curves["float32"][0]
    assert curves["mixed_bfloat16"][0] == pytest.approx(first, rel=0.05)
    assert curves["mixed_bfloat16"] != curves["float32"]
    assert "largest window difference" in done.stdout
