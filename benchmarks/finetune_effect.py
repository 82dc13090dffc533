#!/usr/bin/env python3
"""What fine-tuning the shipped Moving MNIST model gains on clips unlike its
training data, against the shipped model as it is and against training the
same architecture from scratch for the same iterations.

    python benchmarks/finetune_effect.py                      # 500 iterations
    python benchmarks/finetune_effect.py --iterations 200 --out /tmp/ft

The clips: Moving MNIST made with other dynamics than the shipped model saw
(by default three digits moving at 4-6 pixels per frame, where it trained on
two at 2-5), written as uint8 arrays (N, 20, 64, 64) under OUT/clips, and
read by the "array" kind as a user's own clips would be. Three models are
scored on the same test clips (10 -> 10 frames, `evaluate.py`'s metrics):

- shipped: `predrnn_v2_moving_mnist` as it is;
- fine-tuned: `recipes/finetune_frames.toml` (its [data] pointed at the
  clips): the shipped weights, a learning rate of 2e-4 with a cosine decay;
- scratch: the shipped model's recipe on the clips, new weights, its
  learning-rate schedule and reverse scheduled sampling compressed
  into the first half of the run, as the shipped model was trained.

Each training runs `train.py` in its own process and is timed from outside;
prints a table and writes OUT/finetune_effect.json.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from predrnn_keras.cli import start  # noqa: E402

SHIPPED = "predrnn_v2_moving_mnist"
SPLITS = {"train": 1000, "val": 50, "test": 200}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--out", default="runs/finetune_effect")
    parser.add_argument("--num-digits", type=int, default=3)
    parser.add_argument(
        "--speed", type=float, nargs=2, default=[4.0, 6.0],
        metavar=("LOW", "HIGH"), help="pixels per frame",
    )
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"])
    return parser.parse_args(argv)


def write_clips(folder: Path, num_digits: int, speed) -> dict:
    """The clips of each split as .npy files; the [data] table reading
    them."""
    import numpy as np

    from predrnn_keras.data.moving_mnist import MovingMNIST
    from predrnn_keras.data.moving_mnist import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    data = {"kind": "array"}
    for stream, (split, count) in enumerate(SPLITS.items()):
        path = folder / f"{split}.npy"
        data[f"{split}_path"] = str(path)
        if path.is_file():
            continue
        digits, source = load_digits(None, "train" if split == "train" else
                                     "test")
        reader = MovingMNIST(
            digits, (64, 64), num_digits, 20, 7, stream, count, str(source),
            speed=tuple(speed),
        )
        clips = reader.read_batch(np.arange(count))[..., 0]
        np.save(path, np.rint(clips * 255).astype(np.uint8))
    return data


def train_and_time(recipe: dict, run_dir: Path, backend) -> float:
    from predrnn_keras import recipe_config

    path = run_dir.with_suffix(".toml")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(recipe_config.dumps_recipe(recipe))
    command = [sys.executable, str(ROOT / "train.py"), str(path),
               "--run-dir", str(run_dir), "--quiet"]
    if backend:
        command += ["--backend", backend]
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    return time.time() - started


def score(model_path, recipe, out: Path) -> dict:
    import keras

    from predrnn_keras.evaluation import evaluate_model

    model = keras.saving.load_model(model_path, compile=False)
    recipe = {
        **recipe,
        "evaluate": {**recipe["evaluate"], "num_sequences": 0,
                     "save_sequences": 0},
    }
    out.mkdir(parents=True, exist_ok=True)
    results = evaluate_model(model, recipe, out, verbose=0)
    mean = results["mean"]
    return {
        "mse_frame_sum": round(mean["mse_frame_sum"], 2),
        "ssim_8bit": round(mean["ssim_8bit"], 4),
        "num_sequences": results["num_sequences"],
    }


def main(argv=None):
    args = parse_args(argv)
    start(args.backend)
    import keras

    from predrnn_keras import pretrained
    from predrnn_keras import recipe_config
    from predrnn_keras.hardware import describe_machine
    from predrnn_keras.training.initial_model import model_table

    out = Path(args.out)
    data = write_clips(out / "clips", args.num_digits, args.speed)
    n = args.iterations
    common_train = {"iterations": n, "eval_every": n, "checkpoint_every": n,
                    "precision": "float32"}

    finetune = recipe_config.load_recipe(
        ROOT / "recipes" / "finetune_frames.toml",
        init_model_table=model_table,
    )
    finetune = {**finetune, "data": data,
                "train": {**finetune["train"], **common_train}}
    scratch = recipe_config.load_recipe(pretrained.recipe_path(SHIPPED))
    scratch = {
        **scratch,
        "data": data,
        "model": {**scratch["model"], "r_sampling_step_1": n // 4,
                  "r_sampling_step_2": n // 2,
                  "r_exp_alpha": max(1.0, n / 20)},
        "train": {**scratch["train"], **common_train},
    }
    print(f"# {describe_machine()} | keras {keras.__version__}, backend "
          f"{keras.backend.backend()}; clips: {args.num_digits} digits at "
          f"{args.speed[0]:g}-{args.speed[1]:g} px/frame, "
          f"{SPLITS['test']} test clips", flush=True)
    rows = [{"model": "shipped", "iterations": 0, "minutes": 0.0,
             **score(pretrained.model_path(SHIPPED), finetune,
                     out / "shipped-scores")}]
    for name, recipe in (("fine-tuned", finetune), ("scratch", scratch)):
        run_dir = out / name
        seconds = train_and_time(recipe, run_dir, args.backend)
        rows.append({"model": name, "iterations": n,
                     "minutes": round(seconds / 60, 1),
                     **score(run_dir / "last.keras", recipe,
                             out / f"{name}-scores")})
    print(f"{'model':>12} {'iterations':>10} {'minutes':>7} {'MSE/frame':>9} "
          f"{'SSIM':>6}")
    for row in rows:
        print(f"{row['model']:>12} {row['iterations']:>10} "
              f"{row['minutes']:>7.1f} {row['mse_frame_sum']:>9.2f} "
              f"{row['ssim_8bit']:>6.3f}")
    (out / "finetune_effect.json").write_text(json.dumps(
        {"machine": describe_machine(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
