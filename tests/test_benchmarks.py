"""The benchmark scripts run end to end on a tiny configuration.

They measure nothing here (timings on shared CI machines mean nothing); the
tests keep the scripts from rotting: every mode and precision on each backend
with the JSON fields; once (in the TensorFlow pass), the PyTorch baseline
beside it with the table, and the precision-quality script. The baseline's
forward pass computes what our model computes on the same weights.
"""

import importlib.util
import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.numpy_reference import unpatch
from tests.workflow_helpers import REPO
from tests.workflow_helpers import script_env

SCRIPT = REPO / "benchmarks" / "bench_train_step.py"
BASELINE = REPO / "benchmarks" / "torch_baseline.py"
HAS_TORCH = importlib.util.find_spec("torch") is not None
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
        assert r["fast_paths"] == "auto"
        assert 0 < r["ms_min"] <= r["ms_median"] <= r["ms_max"]
        assert r["sequences_per_s"] == pytest.approx(
            2 / (r["ms_median"] / 1000), rel=0.01
        )
        assert r["peak_mib"] > r["import_mib"] > 50


@pytest.mark.large
def test_fast_paths_auto_against_off():
    done = bench("--backend", keras.backend.backend(), "--fast-paths",
                 "auto,off", "--json")
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["fast_paths"] for r in results] == ["auto", "off"]
    # Plain Keras runs its own loop: rolled, whatever the backend.
    assert results[1]["unroll"] is False


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
@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_table_with_the_baseline_beside():
    done = bench("--backend", keras.backend.backend(),
                 "--mode", "train,inference", "--baseline", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    # Each result as it comes, on stderr: per round, the baseline of each
    # mode first, then ours, which carries the ratio to its own round's.
    runs = [json.loads(line) for line in done.stderr.splitlines()
            if line.startswith("{")]
    assert [(r["round"], r["mode"], r["impl"]) for r in runs] == [
        (i, mode, impl)
        for i in (0, 1)
        for impl, mode in (
            ("torch_baseline", "train"), ("torch_baseline", "inference"),
            ("predrnn_keras", "train"), ("predrnn_keras", "inference"),
        )
    ]
    ratios = {}
    for run in runs:
        base = next(b for b in runs if b["impl"] == "torch_baseline"
                    and (b["round"], b["mode"]) == (run["round"], run["mode"]))
        assert run["vs_baseline"] == round(
            base["ms_median"] / run["ms_median"], 3
        )
        ratios.setdefault((run["mode"], run["impl"]), []).append(
            base["ms_median"] / run["ms_median"]
        )
    lines = done.stdout.splitlines()
    assert "rounds=2" in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert [(row[0], row[1]) for row in rows] == [
        ("train", "torch_baseline"), ("inference", "torch_baseline"),
        ("train", f"predrnn_keras[{keras.backend.backend()}]"),
        ("inference", f"predrnn_keras[{keras.backend.backend()}]"),
    ]
    # The ratio column: the median over rounds of each round's ratio (of two
    # values, their mean), and their range.
    for row in rows:
        impl = row[1].split("[")[0]
        found = ratios[(row[0], impl)]
        low, high = min(found), max(found)
        assert row[-2:] == [
            f"{(low + high) / 2:.2f}x", f"({low:.2f}-{high:.2f})"
        ]


def load_script(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@ONE_BACKEND
@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("mode", ["train", "inference"])
def test_the_baseline_prints_one_json_line(mode):
    done = subprocess.run(
        [sys.executable, str(BASELINE), *TINY[:10], "--steps", "2",
         "--mode", mode],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    result = json.loads(line)
    assert {k: result[k] for k in ("impl", "config", "mode", "precision",
                                   "batch")} == {
        "impl": "torch_baseline", "config": "tiny", "mode": mode,
        "precision": "float32", "batch": 2,
    }
    assert 0 < result["ms_min"] <= result["ms_median"] <= result["ms_max"]
    assert result["first_step_s"] >= 0
    assert result["peak_mib"] >= result["import_mib"] > 50


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_the_baseline_computes_what_our_model_computes():
    # Its weights, converted as a reference checkpoint is, into our model:
    # the same predictions of the same frames in the test regime.
    import torch

    from predrnn_keras.convert import convert_state_dict

    baseline = load_script(BASELINE)
    torch.manual_seed(3)
    patch, context, (b, t, size) = 2, 3, (2, 6, 8)
    reference = baseline.PredRNNBaseline(
        layers=2, hidden=4, channels=patch * patch, filter_size=3
    )
    model = convert_state_dict(
        reference.state_dict(),
        {"patch_size": patch, "input_length": context},
        image_shape=(size, size, 1),
    )
    frames = np.random.default_rng(0).random((b, t, size, size, 1), "float32")
    with torch.no_grad():
        expected = reference(
            baseline.patch(torch.from_numpy(frames), patch),
            torch.zeros(b, t - 1 - context),
            context,
        )
    expected = unpatch(expected.permute(0, 1, 3, 4, 2).numpy(), patch)
    ours = keras.ops.convert_to_numpy(model(frames))
    np.testing.assert_allclose(ours, expected, atol=2e-5)


def test_rounds_pool_into_one_row_per_run():
    module = load_script(SCRIPT)

    def run(round_index, impl, ms, base_ms, peak):
        return {"mode": "train", "impl": impl, "backend": "torch",
                "precision": "float32", "round": round_index,
                "ms_median": ms, "ms_min": ms - 1, "ms_max": ms + 1,
                "peak_mib": peak, "import_mib": 100,
                "baseline_ms_median": base_ms}

    # The machine is twice as slow in round 1. Per round ours is 1.25x,
    # 1.25x and 1.00x the baseline: the median ratio says 1.25x, where the
    # ratio of the pooled medians (110 ms / 110 ms) would say 1.00x.
    results = [
        run(0, "torch_baseline", 100, 100, 500),
        run(0, "predrnn_keras", 80, 100, 700),
        run(1, "torch_baseline", 200, 200, 510),
        run(1, "predrnn_keras", 160, 200, 650),
        run(2, "torch_baseline", 110, 110, 505),
        run(2, "predrnn_keras", 110, 110, 690),
    ]
    rows = module.table_rows(results)
    assert [(r["impl"], r["rounds"]) for r in rows] == [
        ("torch_baseline", 3), ("predrnn_keras", 3)
    ]
    base, ours = rows
    assert base["ratio"] == 1.0 and base["ratio_range"] == (1.0, 1.0)
    assert ours["ms_median"] == 110
    assert ours["ms_min"] == 79 and ours["ms_max"] == 161
    assert ours["ratio"] == 1.25
    assert ours["ratio_range"] == (1.0, 1.25)
    assert ours["peak_mib"] == 700 and ours["added_mib"] == 600


def test_long_implementation_names_keep_their_own_column(capsys):
    module = load_script(SCRIPT)
    args = module.parse_args(
        ["--backend", "tensorflow", "--unroll", "true,false",
         "--jit-compile", "false", "--replicas", "2"]
    )
    results = [
        {"mode": "train", "impl": "predrnn_keras", "backend": "tensorflow",
         "precision": "mixed_bfloat16", "replicas": 2, "unroll": unroll,
         "jit_compile": False, "round": 0, "ms_median": 10.0, "ms_min": 9.0,
         "ms_max": 11.0, "peak_mib": 900, "import_mib": 700}
        for unroll in (True, False)
    ]
    module.print_table(args, results)
    lines = capsys.readouterr().out.splitlines()
    header, rows = lines[1], lines[2:]
    assert [row.split()[1:6] for row in rows] == [
        ["predrnn_keras[tensorflow]", "x2", f"u={u}", "jit=0",
         "mixed_bfloat16"]
        for u in (1, 0)
    ]
    # Every row's columns line up under the header's.
    start = header.index("precision")
    assert {row.index("mixed_bfloat16") for row in rows} == {start}


def test_bad_arguments_are_named():
    done = bench("--precision", "float16")
    assert done.returncode == 2
    assert "--precision: 'float16' is not one of float32, mixed_bfloat16" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    done = bench("--rounds", "0")
    assert done.returncode == 2
    assert "--rounds: expected at least 1, got 0" in done.stderr


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


@pytest.mark.large
@ONE_BACKEND
def test_pretrained_quality_scores_the_shipped_model(tmp_path):
    out = tmp_path / "quality.json"
    env = script_env()
    env.pop("PYTHONPATH")  # runs as a user runs it
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "pretrained_quality.py"),
         "--sequences", "4", "--json", str(out)],
        env=env, cwd=tmp_path, capture_output=True, text=True,
        timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr
    (row,) = json.loads(out.read_text())["checkpoints"]
    assert row["model"] == "predrnn_v2_moving_mnist"
    assert row["num_sequences"] == 4 and 0 < row["mse_frame_sum"] < 400
    assert "MSE/frame" in done.stdout


def test_finetune_effect_writes_clips_the_array_kind_reads(
    tmp_path, monkeypatch
):
    from predrnn_keras.data import make_reader

    spec = importlib.util.spec_from_file_location(
        "finetune_effect", REPO / "benchmarks" / "finetune_effect.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "SPLITS", {"train": 3, "val": 2, "test": 2})
    data = module.write_clips(tmp_path / "clips", 3, (5.0, 5.0))
    clips = np.load(tmp_path / "clips" / "train.npy")
    assert clips.shape == (3, 20, 64, 64) and clips.dtype == np.uint8
    # Digits moving 5 pixels a frame: every frame differs from the last.
    assert (clips[:, 1:] != clips[:, :-1]).any(axis=(2, 3)).all()
    reader = make_reader(data, "test", 20)
    assert reader.num_sequences == 2
    assert reader.read_batch(np.arange(2)).shape == (2, 20, 64, 64, 1)
