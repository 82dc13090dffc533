"""`train.precision = "auto"` on a CPU with bfloat16 instructions: measured.

A CPU flag does not say whether bfloat16 is faster: AMX makes a training
step 4-5x faster, AVX-512 BF16 alone makes it faster on some CPUs and slower
on others. So on such a CPU (and no GPU), "auto" times a few training steps
of the recipe's own model in float32 and in mixed_bfloat16, on random data
of the recipe's batch, and picks mixed_bfloat16 only where its step takes at
most `MARGIN` of float32's. The answer is cached per machine (CPU model,
cores), Keras backend and shape class (the model's architecture, frame size,
batch and sequence length) in `$XDG_CACHE_HOME/predrnn_keras/precision.json`,
so the timing runs once.
"""

import json
import os
import statistics
import time

import keras
import numpy as np

from predrnn_keras import hardware
from predrnn_keras import recipe_config
from predrnn_keras.data.frame_cache import default_cache_dir
from predrnn_keras.utils import files

CACHE_FILE = "precision.json"
# mixed_bfloat16 must take at most this share of float32's step time.
MARGIN = 0.8
WARMUP_STEPS = 1
TIMED_STEPS = 3
PRECISIONS = ("float32", "mixed_bfloat16")


def cache_path() -> "os.PathLike":
    return default_cache_dir() / CACHE_FILE


def cache_key(recipe: dict, frame_shape) -> str:
    """Machine, backend and shape class of a recipe, as one string."""
    model = recipe["model"]
    train = recipe["train"]
    return json.dumps(
        {
            "cpu": hardware.cpu_model(),
            "cores": os.cpu_count(),
            "backend": keras.backend.backend(),
            "keras": keras.__version__,
            "variant": model["variant"],
            "num_hidden": list(model["num_hidden"]),
            "filter_size": model["filter_size"],
            "patch_size": model["patch_size"],
            "frame_shape": list(frame_shape),
            "batch_size": train["batch_size"],
            "total_length": train["total_length"],
        },
        sort_keys=True,
    )


def read_cache() -> dict:
    try:
        with open(cache_path()) as f:
            cached = json.load(f)
    except (OSError, ValueError):
        return {}
    return cached if isinstance(cached, dict) else {}


def write_cache(key: str, entry: dict) -> None:
    """Adds `entry` under `key`; a cache that cannot be written is only
    not kept (the choice stands)."""
    cached = read_cache()
    cached[key] = entry
    try:
        cache_path().parent.mkdir(parents=True, exist_ok=True)
        files.write_json(cache_path(), cached)
    except OSError:
        pass


def training_step_times(model, batch: np.ndarray, total: int) -> list:
    """Seconds of each of `total` training steps of `model` on `batch`
    (through `model.fit`, one step per repeat of the batch)."""
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, index, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, index, logs=None):
            float(logs["loss"])  # waits for asynchronous backends
            times.append(time.perf_counter() - self.start)

    model.fit(
        np.concatenate([batch] * total),
        batch_size=len(batch),
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[Timer()],
    )
    return times


def step_seconds(model, batch: np.ndarray, steps: int, warmup: int) -> float:
    """The median time of `steps` training steps after `warmup`."""
    times = training_step_times(model, batch, warmup + steps)
    return statistics.median(times[warmup:])


def measure(recipe: dict, frame_shape, steps=TIMED_STEPS,
            warmup=WARMUP_STEPS) -> dict:
    """Seconds per training step of the recipe's model in each precision."""
    train = recipe["train"]
    rng = np.random.default_rng(0)
    batch = rng.uniform(
        0, 1, (train["batch_size"], train["total_length"], *frame_shape)
    ).astype(np.float32)
    seconds = {}
    for precision in PRECISIONS:
        pinned = {**recipe, "train": {**train, "precision": precision}}
        model = recipe_config.build_model(pinned, frame_shape)
        seconds[precision] = step_seconds(model, batch, steps, warmup)
        del model
    return seconds


def pick(seconds: dict) -> str:
    """mixed_bfloat16 where its step takes at most `MARGIN` of float32's."""
    if seconds["mixed_bfloat16"] <= MARGIN * seconds["float32"]:
        return "mixed_bfloat16"
    return "float32"


def describe(seconds: dict, precision: str, cached: bool) -> str:
    timings = ", ".join(
        f"{seconds[p] * 1000:,.0f} ms in {p}" for p in PRECISIONS
    )
    source = "cached" if cached else "measured"
    return (
        f"a training step of this model takes {timings} on this CPU "
        f"({source} in {cache_path()}); {precision} chosen, mixed_bfloat16 "
        f"needs at most {MARGIN:.0%} of float32's time"
    )


def measured_precision(recipe: dict, frame_shape, say=print) -> tuple:
    """`(precision, reason)` for a recipe of "auto" precision on a CPU with
    bfloat16 instructions: from the cache, else timed now (`say` tells
    first, as the timing takes a moment)."""
    key = cache_key(recipe, frame_shape)
    entry = read_cache().get(key)
    cached = isinstance(entry, dict) and all(
        isinstance(entry.get(p), (int, float)) for p in PRECISIONS
    )
    if cached:
        seconds = {p: float(entry[p]) for p in PRECISIONS}
    else:
        if say is not None:
            say(
                "Precision auto: this CPU has bfloat16 instructions; timing "
                f"{TIMED_STEPS} training steps in float32 and in "
                "mixed_bfloat16 (once per machine and model shape)"
            )
        seconds = measure(recipe, frame_shape)
        write_cache(key, {**seconds, "measured_at": time.strftime(
            "%Y-%m-%d %H:%M:%S")})
    precision = pick(seconds)
    return precision, describe(seconds, precision, cached)


def needs_measuring() -> bool:
    """Whether "auto" is measured here: a CPU with bfloat16 instructions
    and no accelerator (GPUs and TPUs follow `hardware.decide_precision`)."""
    return bool(hardware.cpu_bfloat16_flags()) and not hardware.accelerators()
