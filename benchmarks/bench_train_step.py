#!/usr/bin/env python3
"""Times one training step of PredRNN with `model.fit`, per Keras backend.

The step does the arithmetic of `../shared/bench/torch_baseline.py` (one Adam
step; the first `context` inputs are true frames, later inputs the model's own
predictions; MSE over all T - 1 predictions), so the two can be compared as a
ratio in one session:

    python benchmarks/bench_train_step.py --config paper --backend tensorflow
    python benchmarks/bench_train_step.py --config small --backend all --baseline
    python benchmarks/bench_train_step.py --config small --backend jax \\
        --replicas 1,2      # data_parallel on 2 (virtual CPU) devices vs 1

`--backend all` runs each backend in its own process. Prints a table (median,
min and max milliseconds over `--steps` steps after `--warmup` warm-up steps)
or one JSON line per run with `--json`.
"""

import argparse
import json
import os
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
BASELINE = os.path.join(ROOT, "..", "shared", "bench", "torch_baseline.py")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", choices=sorted(CONFIGS), default="small")
    parser.add_argument(
        "--backend", default="all", help="tensorflow, jax, torch or all"
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
        help="also run ../shared/bench/torch_baseline.py with the same shape",
    )
    parser.add_argument(
        "--replicas",
        default="1",
        help="comma-separated replica counts: N > 1 trains data_parallel on "
        "N devices (the GPUs, or the CPU split into N virtual devices when "
        "there are none); the global batch stays --batch",
    )
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def measure(args):
    """Runs in a process whose KERAS_BACKEND is already set."""
    import keras
    import numpy as np

    import predrnn_keras
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
            seed=0,
        )
        model.compile(optimizer=keras.optimizers.Adam(1e-4))
    rng = np.random.default_rng(0)
    frames = rng.random(
        (args.batch, args.frames, args.image, args.image, 1), dtype="float32"
    )

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times = []

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for asynchronous backends
            self.times.append(time.perf_counter() - self.start)

    timer = Timer()
    total = args.warmup + args.steps
    data = np.repeat(frames, total, axis=0)
    model.fit(
        data,
        batch_size=args.batch,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    times = [t * 1000 for t in timer.times[args.warmup :]]
    return {
        "impl": "predrnn_keras",
        "backend": keras.backend.backend(),
        "config": args.config,
        "batch": args.batch,
        "replicas": placement.num_replicas,
        "first_step_s": round(timer.times[0], 2),
        "ms_median": round(statistics.median(times), 1),
        "ms_min": round(min(times), 1),
        "ms_max": round(max(times), 1),
    }


def run_child(argv, backend, replicas="1"):
    argv = [*argv, "--replicas", replicas]
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *argv, "--backend", backend,
         "--json", "--child"],
        env=env, capture_output=True, text=True,
    )
    lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if out.returncode or not lines:
        raise SystemExit(f"{backend} run failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(lines[-1])


def run_baseline(args):
    command = [
        sys.executable, BASELINE, "--config", args.config,
        "--batch", str(args.batch), "--image", str(args.image),
        "--patch", str(args.patch), "--filter", str(args.filter),
        "--frames", str(args.frames), "--context", str(args.context),
        "--steps", str(args.steps),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    argv = [a for a in sys.argv[1:] if a != "--child"]
    args = parse_args(argv)
    if "--child" in sys.argv:
        print(json.dumps(measure(args)))
        return
    # Strip --backend/--baseline/--json from what children see.
    child_argv = []
    skip = False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in ("--backend", "--replicas"):
            skip = True
            continue
        if a.startswith(("--backend=", "--replicas=")) or a in (
            "--baseline", "--json"
        ):
            continue
        child_argv.append(a)
    backends = (
        ["tensorflow", "jax", "torch"] if args.backend == "all"
        else args.backend.split(",")
    )
    results = []

    def done(result):
        # Each result as soon as it exists: a long run stopped part-way
        # (the paper configuration takes many minutes per backend) keeps
        # what it measured.
        results.append(result)
        out = sys.stdout if args.json else sys.stderr
        print(json.dumps(result), file=out, flush=True)

    if args.baseline:
        if not os.path.exists(BASELINE):
            raise SystemExit(f"baseline not found: {BASELINE}")
        done(run_baseline(args))
    for backend in backends:
        for replicas in args.replicas.split(","):
            done(run_child(child_argv, backend, replicas.strip()))
    if args.json:
        return
    base = next((r for r in results if r["impl"] == "torch_baseline"), None)
    print(f"config={args.config} batch={args.batch} image={args.image} "
          f"frames={args.frames} steps={args.steps}")
    print(f"{'implementation':<40}{'median ms':>11}{'min':>9}{'max':>9}"
          f"{'first s':>9}{'speed-up':>10}")
    for r in results:
        name = r["impl"] + (f"[{r['backend']}]" if "backend" in r else "")
        if r.get("replicas", 1) > 1:
            name += f" x{r['replicas']} replicas"
        ratio = f"{base['ms_median'] / r['ms_median']:.2f}x" if base else "-"
        print(f"{name:<40}{r['ms_median']:>11.1f}{r['ms_min']:>9.1f}"
              f"{r['ms_max']:>9.1f}{r['first_step_s']:>9.2f}{ratio:>10}")


if __name__ == "__main__":
    main()
