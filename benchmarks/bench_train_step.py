#!/usr/bin/env python3
"""Times PredRNN's training step and inference, per backend and precision.

The training step does the arithmetic of the PyTorch reference, which
`benchmarks/torch_baseline.py` writes in plain PyTorch (one Adam step; the
first `context` inputs are true frames, later inputs the model's own
predictions; MSE over all T - 1 predictions). Inference is the same forward
pass without gradients: `context` frames in, `frames - context` frames out
(10 in, 10 out by default), through the compiled predict function. With
`--baseline` (needs torch) the baseline runs first with the same shape, at
float32 (the reference's precision), in both modes; ratios are baseline time
/ our time, so 2.0x means twice as fast.

    python benchmarks/bench_train_step.py --config paper --backend tensorflow
    python benchmarks/bench_train_step.py --config small --backend all \\
        --mode train,inference --precision float32,mixed_bfloat16 --baseline
    python benchmarks/bench_train_step.py --config small --backend jax \\
        --replicas 1,2      # data_parallel on 2 (virtual CPU) devices vs 1
    python benchmarks/bench_train_step.py --config small --backend tensorflow \\
        --unroll true,false --jit-compile false,true   # driver settings
    python benchmarks/bench_train_step.py --config small --backend torch \\
        --fast-paths auto,off   # the backend's fast paths against plain Keras
    python benchmarks/bench_train_step.py --config paper --backend tensorflow \\
        --baseline --rounds 3   # baseline and ours alternated, 3 times

A machine's speed drifts, so a ratio is only as good as the two runs behind
it being close in time. `--rounds N` runs the whole sequence (baseline first,
then ours) N times; each of our runs gets the ratio to the baseline of its
own round, and the table gives the median of those ratios with their range.

Every run is its own process (the backend is fixed at import, and the peak
memory is then the run's own). Prints a table (median, min and max ms over
`--steps` steps after `--warmup` warm-up steps, sequences per second, the
peak resident memory of the process and, beside it, how much of it the run
added to the imported framework) or, with `--json`, one JSON line per run.
"""

import argparse
import importlib.util
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CONFIGS = {
    "paper": dict(layers=4, hidden=128),
    "small": dict(layers=2, hidden=32),
    "tiny": dict(layers=2, hidden=8),
}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "benchmarks", "torch_baseline.py")
MODES = ("train", "inference")
PRECISIONS = ("float32", "mixed_bfloat16")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument(
        "--backend", default="all", help="tensorflow, jax, torch or all"
    )
    parser.add_argument(
        "--mode", default="train",
        help="comma-separated: train, inference (default train)",
    )
    parser.add_argument(
        "--precision", default="float32",
        help="comma-separated: float32, mixed_bfloat16 (default float32)",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--patch", type=int, default=4)
    parser.add_argument("--filter", type=int, default=5)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--context", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="also run benchmarks/torch_baseline.py (PyTorch) with the "
        "same shape",
    )
    parser.add_argument(
        "--replicas",
        default="1",
        help="comma-separated replica counts: N > 1 trains data_parallel on "
        "N devices (the GPUs, or the CPU split into N virtual devices when "
        "there are none); the global batch stays --batch",
    )
    parser.add_argument(
        "--unroll", default="auto",
        help="comma-separated: auto (the model's per-backend default), "
        "true, false",
    )
    parser.add_argument(
        "--jit-compile", default="auto",
        help="comma-separated: auto (Keras' default), true, false",
    )
    parser.add_argument(
        "--fast-paths", default="auto",
        help="comma-separated: auto (the backend's fast paths), off (plain "
        "Keras ops)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1,
        help="repeat the whole sequence (baseline, then ours) N times; "
        "ratios are taken within a round and the table gives their median",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds: expected at least 1, got {args.rounds}")
    for name, allowed in (
        ("mode", MODES), ("precision", PRECISIONS),
        ("unroll", ("auto", "true", "false")),
        ("jit_compile", ("auto", "true", "false")),
        ("fast_paths", ("auto", "off")),
    ):
        values = getattr(args, name).split(",")
        bad = [v for v in values if v not in allowed]
        if bad:
            parser.error(
                f"--{name.replace('_', '-')}: {bad[0]!r} is not one of "
                f"{', '.join(allowed)}"
            )
    return args


def _flag(value):
    return {"auto": None, "true": True, "false": False}[value]


def peak_mib():
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def summary(times_s, batch):
    times = [t * 1000 for t in times_s]
    median = round(statistics.median(times), 1)
    return {
        "ms_median": median,
        "ms_min": round(min(times), 1),
        "ms_max": round(max(times), 1),
        "sequences_per_s": round(batch / (median / 1000), 2),
    }


def measure(args):
    """Runs in a process whose KERAS_BACKEND is already set."""
    import predrnn_keras

    # As the command lines run: set up before Keras loads.
    predrnn_keras.configure_runtime()
    import keras
    import numpy as np

    import_mib = peak_mib()  # the framework, before any model exists
    from predrnn_keras.distribution import Placement
    from predrnn_keras.distribution import setup_distribution

    replicas = int(args.replicas)
    placement = Placement(backend=keras.backend.backend())
    if replicas > 1:
        placement = setup_distribution(
            {"mode": "data_parallel", "devices": replicas,
             "cpu_devices": replicas}
        )
    config = CONFIGS[args.config]
    with placement.scope():
        model = predrnn_keras.PredRNN(
            num_hidden=[config["hidden"]] * config["layers"],
            filter_size=args.filter,
            patch_size=args.patch,
            input_length=args.context,
            sampling="none",
            reverse_input=False,
            unroll=_flag(args.unroll),
            seed=0,
            fast_paths=args.fast_paths,
            dtype=args.precision,
        )
        jit = _flag(args.jit_compile)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-4),
            jit_compile="auto" if jit is None else jit,
        )
    rng = np.random.default_rng(0)
    frames = rng.random(
        (args.batch, args.frames, args.image, args.image, 1), dtype="float32"
    )
    total = args.warmup + args.steps
    if args.mode == "train":
        times = time_training(model, frames, total)
    else:
        times = time_inference(model, frames, args.context, total)
    return {
        "impl": "predrnn_keras",
        "backend": keras.backend.backend(),
        "mode": args.mode,
        "precision": args.precision,
        "config": args.config,
        "batch": args.batch,
        "replicas": placement.num_replicas,
        "unroll": bool(model.rnn.unroll),
        "jit_compile": bool(model.jit_compile),
        "fast_paths": model.fast_paths,
        "first_step_s": round(times[0], 2),
        **summary(times[args.warmup :], args.batch),
        "peak_mib": peak_mib(),
        "import_mib": import_mib,
        # configure_runtime's flag for JAX on CPU (predrnn_keras/xla_flags.py)
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def time_training(model, frames, total):
    from predrnn_keras.training.precision_probe import training_step_times

    return training_step_times(model, frames, total)


def time_inference(model, frames, context, total):
    import numpy as np

    # Context frames in, the rest predicted: the mask says which inputs are
    # true frames; later inputs are the model's own predictions.
    mask = np.zeros(frames.shape[:2], "float32")[:, 1:]
    mask[:, :context] = 1.0
    inputs = {"frames": frames, "mask": mask}
    times = []
    for _ in range(total):
        start = time.perf_counter()
        np.asarray(model.predict_on_batch(inputs))
        times.append(time.perf_counter() - start)
    return times


def child_env(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def last_json(out, what):
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{what} failed:\n{out.stdout}\n{out.stderr}")
    return [json.loads(l) for l in lines]


def run_child(args, backend, mode, precision, replicas, unroll, jit, paths):
    argv = [
        "--config", args.config, "--batch", str(args.batch),
        "--image", str(args.image), "--patch", str(args.patch),
        "--filter", str(args.filter), "--frames", str(args.frames),
        "--context", str(args.context), "--warmup", str(args.warmup),
        "--steps", str(args.steps), "--backend", backend, "--mode", mode,
        "--precision", precision, "--replicas", replicas,
        "--unroll", unroll, "--jit-compile", jit, "--fast-paths", paths,
    ]
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *argv, "--child"],
        env=child_env(backend), capture_output=True, text=True,
    )
    return last_json(out, f"{backend} {mode} {precision}")[-1]


def run_baseline(args, mode):
    command = [
        sys.executable, BASELINE, "--mode", mode, "--config", args.config,
        "--batch", str(args.batch), "--image", str(args.image),
        "--patch", str(args.patch), "--filter", str(args.filter),
        "--frames", str(args.frames), "--context", str(args.context),
        "--steps", str(args.steps),
    ]
    out = subprocess.run(command, capture_output=True, text=True)
    result = last_json(out, f"baseline {mode}")[-1]
    return {
        **result,
        "backend": "torch",
        "sequences_per_s": round(args.batch / (result["ms_median"] / 1000), 2),
    }


def bfloat16_hardware():
    """The CPU's bfloat16 instructions, from /proc/cpuinfo (Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return "unknown"
    found = sorted(flags & {"amx_bf16", "avx512_bf16"})
    return ", ".join(found) if found else "none"


def main():
    argv = [a for a in sys.argv[1:] if a != "--child"]
    args = parse_args(argv)
    if "--child" in sys.argv:
        print(json.dumps(measure(args)))
        return
    backends = (
        ["tensorflow", "jax", "torch"] if args.backend == "all"
        else args.backend.split(",")
    )
    modes = args.mode.split(",")
    results = []

    def done(result):
        # Each result as soon as it exists: a long run stopped part-way
        # (the paper configuration takes minutes per step on a CPU) keeps
        # what it measured.
        results.append(result)
        out = sys.stdout if args.json else sys.stderr
        print(json.dumps(result), file=out, flush=True)

    if args.baseline and importlib.util.find_spec("torch") is None:
        raise SystemExit("--baseline needs torch: pip install torch")
    for round_index in range(args.rounds):
        baselines = {}
        if args.baseline:
            for mode in modes:
                base = run_baseline(args, mode)
                baselines[mode] = base
                done({**base, "round": round_index,
                      "baseline_ms_median": base["ms_median"],
                      "vs_baseline": 1.0})
        for backend, mode, precision, replicas, unroll, jit, paths in (
            itertools.product(
                backends, modes, args.precision.split(","),
                args.replicas.split(","), args.unroll.split(","),
                args.jit_compile.split(","), args.fast_paths.split(","),
            )
        ):
            result = run_child(args, backend, mode, precision,
                               replicas.strip(), unroll, jit, paths)
            result["round"] = round_index
            if mode in baselines:
                base = baselines[mode]["ms_median"]
                result["baseline_ms_median"] = base
                result["vs_baseline"] = round(base / result["ms_median"], 3)
            done(result)
    if not args.json:
        print_table(args, results)


# The fields that identify a run (its rounds share them).
RUN_KEYS = (
    "mode", "impl", "backend", "precision", "replicas", "unroll",
    "jit_compile", "fast_paths",
)


def run_key(result):
    """What makes two results runs of the same thing (in other rounds)."""
    return tuple(result.get(k) for k in RUN_KEYS)


def table_rows(results):
    """One row per distinct run, its rounds pooled.

    The time is the median over rounds of each run's median (min and max over
    all its steps), the memory the largest of its rounds, and the ratio the
    median over rounds of baseline time / our time with its (min, max): each
    ratio compares two runs of the same round.
    """
    rows = {}
    for result in results:
        rows.setdefault(run_key(result), []).append(result)
    table = []
    for runs in rows.values():
        first = runs[0]
        ratios = [
            r["baseline_ms_median"] / r["ms_median"]
            for r in runs if "baseline_ms_median" in r
        ]
        table.append({
            **{k: first.get(k) for k in RUN_KEYS},
            "rounds": len(runs),
            "ms_median": statistics.median(r["ms_median"] for r in runs),
            "ms_min": min(r["ms_min"] for r in runs),
            "ms_max": max(r["ms_max"] for r in runs),
            "peak_mib": max(r["peak_mib"] for r in runs),
            "added_mib": max(r["peak_mib"] - r["import_mib"] for r in runs),
            "ratio": statistics.median(ratios) if ratios else None,
            "ratio_range": (min(ratios), max(ratios)) if ratios else None,
        })
    return table


def print_table(args, results):
    print(f"config={args.config} batch={args.batch} image={args.image} "
          f"frames={args.frames} context={args.context} steps={args.steps} "
          f"rounds={args.rounds} | CPU {platform.machine()}, "
          f"{os.cpu_count()} cores, bfloat16 instructions: "
          f"{bfloat16_hardware()}")
    rows = []
    for row in table_rows(results):
        name = row["impl"] + (
            f"[{row['backend']}]" if row["impl"] != "torch_baseline" else ""
        )
        if (row["replicas"] or 1) > 1:
            name += f" x{row['replicas']}"
        if row["impl"] != "torch_baseline" and (
            args.unroll != "auto" or args.jit_compile != "auto"
        ):
            name += f" u={int(row['unroll'])} jit={int(row['jit_compile'])}"
        if row["impl"] != "torch_baseline" and args.fast_paths != "auto":
            name += f" fast_paths={row['fast_paths']}"
        rows.append((row, name))
    # The implementation column is as wide as its longest name plus a space.
    width = max([34] + [len(name) + 1 for _, name in rows])
    print(f"{'mode':<10}{'implementation':<{width}}{'precision':<15}"
          f"{'median ms':>11}{'min':>9}{'max':>9}{'seq/s':>8}{'peak MiB':>10}"
          f"{'added':>8}{'vs baseline':>13}")
    for row, name in rows:
        ratio = "-"
        if row["ratio"] is not None:
            ratio = f"{row['ratio']:.2f}x"
            low, high = row["ratio_range"]
            if row["rounds"] > 1:
                ratio += f" ({low:.2f}-{high:.2f})"
        seq_per_s = args.batch / (row["ms_median"] / 1000)
        print(f"{row['mode']:<10}{name:<{width}}{row['precision']:<15}"
              f"{row['ms_median']:>11.1f}{row['ms_min']:>9.1f}"
              f"{row['ms_max']:>9.1f}{seq_per_s:>8.2f}{row['peak_mib']:>10}"
              f"{row['added_mib']:>8} {ratio:>12}")


if __name__ == "__main__":
    main()
