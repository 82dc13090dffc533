#!/usr/bin/env python3
"""Does mixed precision train as well as float32? Two runs, one comparison.

Trains the same model twice from the same initial weights, on the same
batches with the same sampling masks, once in float32 and once in
`mixed_bfloat16`, and compares the training loss curves: the mean loss over
each window of `--window` iterations, and the relative difference of the
mixed run's window means from float32's. The model is the benchmark's
"small" configuration (2 layers x 32, filter 5, patch 4) as PredRNN-V2
(reverse scheduled sampling, decoupling loss) on generated Moving MNIST,
64x64, 20 frames, batch 8.

    KERAS_BACKEND=jax python benchmarks/precision_quality.py --iterations 500
    python benchmarks/precision_quality.py --iterations 20 --json out.json

Prints the window table and the largest relative difference; `--json`
writes both curves.
"""

import argparse
import json
import sys
import time
from pathlib import Path

# Runs as `python benchmarks/precision_quality.py` from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--image", type=int, default=64)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--json", help="write both curves to this file")
    return parser.parse_args(argv)


def train_curve(args, precision, initial_weights=None):
    import keras
    import numpy as np

    from predrnn_keras import PredRNNV2
    from predrnn_keras.data import build_dataset

    model = PredRNNV2(
        num_hidden=[args.hidden] * args.layers,
        filter_size=5,
        patch_size=4,
        input_length=10,
        # The reverse schedule compressed into the run, so that the masks
        # change over it as they do over a full run.
        r_sampling_step_1=args.iterations // 4,
        r_sampling_step_2=args.iterations // 2,
        r_exp_alpha=args.iterations / 20,
        reverse_input=False,
        seed=0,
        dtype=precision,
    )
    model.build((None, args.frames, args.image, args.image, 1))
    if initial_weights is not None:
        model.set_weights(initial_weights)
    weights = model.get_weights()
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate))
    data = build_dataset(
        {"kind": "moving_mnist", "num_digits": 2, "image_size": args.image,
         "num_sequences": args.batch * args.iterations},
        "train", batch_size=args.batch, total_length=args.frames, seed=0,
    )
    losses = []
    start = time.perf_counter()
    for iteration, frames in enumerate(data.take(args.iterations)):
        logs = model.train_on_batch(np.asarray(frames), return_dict=True)
        losses.append(float(logs["loss"]))
        if (iteration + 1) % args.window == 0:
            print(f"{precision} iteration {iteration + 1}: loss "
                  f"{np.mean(losses[-args.window:]):.5f} "
                  f"({time.perf_counter() - start:.0f} s)", file=sys.stderr,
                  flush=True)
    return losses, weights


def main(argv=None):
    args = parse_args(argv)
    import predrnn_keras

    # As the command lines run: set up before Keras loads.
    predrnn_keras.configure_runtime()
    import keras
    import numpy as np

    full, weights = train_curve(args, "float32")
    mixed, _ = train_curve(args, "mixed_bfloat16", initial_weights=weights)
    windows = range(0, args.iterations, args.window)
    print(f"backend {keras.backend.backend()}, {args.iterations} iterations, "
          f"loss averaged over windows of {args.window}")
    print(f"{'iterations':<14}{'float32':>10}{'mixed_bf16':>12}{'difference':>12}")
    worst = 0.0
    for begin in windows:
        a = float(np.mean(full[begin : begin + args.window]))
        b = float(np.mean(mixed[begin : begin + args.window]))
        worst = max(worst, abs(b - a) / a)
        end = min(begin + args.window, args.iterations)
        print(f"{begin + 1:>5}-{end:<8}{a:>10.5f}{b:>12.5f}"
              f"{(b - a) / a:>+12.2%}")
    print(f"largest window difference: {worst:.2%}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"float32": full, "mixed_bfloat16": mixed,
                       "largest_window_difference": worst}, f)


if __name__ == "__main__":
    main()
