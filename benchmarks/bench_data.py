"""Throughput and memory of the data readers.

Measures, as the median of `--runs` runs:

1. generated Moving MNIST (64x64, 2 digits, 20 frames), sequences/s through
   the training pipeline (`build_dataset(..., "train")`);
2. KTH read from its frame cache at 128x128, sequences/s through the
   training pipeline: a synthetic cache of KTH's size (599 videos of 500
   frames, 4.9 GB of uint8 frames, written to a temporary folder and
   deleted afterwards) read with the reference's sequence indexing;
3. the peak resident memory added by one pass over a 2 GiB memory-mapped
   array (a sparse .npy in a temporary folder), through the reader and, for
   comparison, by a plain `numpy.load(..., mmap_mode="r")` scan.

    python -m benchmarks.bench_data [--runs 5] [--quick]   # from the repo root
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import predrnn_keras

# As the command lines run: set up before TensorFlow loads.
predrnn_keras.configure_runtime()

from predrnn_keras.data import build_dataset  # noqa: E402
from predrnn_keras.data import kth_sequence_starts  # noqa: E402
from predrnn_keras.data.kth import KTH_ACTIONS  # noqa: E402
from predrnn_keras.data.kth import OVERLAP_STEP  # noqa: E402
from predrnn_keras.data.kth import OVERLAPPING_ACTIONS  # noqa: E402
from predrnn_keras.data.mapped_array import MappedArray  # noqa: E402
from predrnn_keras.data.pipeline import make_dataset  # noqa: E402
from predrnn_keras.data.window_reader import WindowReader  # noqa: E402


def sequences_per_second(dataset, batches: int, warmup: int = 5) -> float:
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    count = sum(int(next(iterator).shape[0]) for _ in range(batches))
    return count / (time.perf_counter() - start)


def peak_rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def bench_moving_mnist(runs: int, batches: int) -> list[float]:
    config = {"kind": "moving_mnist", "num_digits": 2, "image_size": 64}
    return [
        sequences_per_second(
            build_dataset(config, "train", batch_size=8, seed=run), batches
        )
        for run in range(runs)
    ]


def write_kth_cache(folder: Path, videos: int, frames: int) -> WindowReader:
    """Writes a frame cache of KTH's size and returns its training reader."""
    rng = np.random.default_rng(0)
    arrays, windows = [], []
    for number in range(videos):
        path = folder / f"{number:05d}.npy"
        data = np.lib.format.open_memmap(
            path, "w+", np.uint8, (frames, 128, 128, 1)
        )
        data[:] = rng.integers(0, 256, data.shape, np.uint8)
        data.flush()
        del data
        action = KTH_ACTIONS[number % len(KTH_ACTIONS)]
        step = OVERLAP_STEP if action in OVERLAPPING_ACTIONS else 20
        starts = kth_sequence_starts(np.arange(1, frames + 1), 20, step)
        windows.extend((len(arrays), 0, start) for start in starts)
        arrays.append(MappedArray(path))
    return WindowReader(str(folder), arrays, "FHWC", np.array(windows), 20)


def bench_kth(runs: int, batches: int, videos: int, frames: int):
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        start = time.perf_counter()
        reader = write_kth_cache(Path(tmp), videos, frames)
        size_gb = videos * frames * 128 * 128 / 1e9
        print(
            f"  KTH cache: {videos} videos x {frames} frames = {size_gb:.1f} "
            f"GB, {reader.num_sequences:,} sequences, written in "
            f"{time.perf_counter() - start:.0f} s"
        )
        return [
            sequences_per_second(
                make_dataset(
                    reader, True, batch_size=4, seed=run, start_batch=0
                ),
                batches,
            )
            for run in range(runs)
        ]


def bench_memory(runs: int, size_gib: float):
    shape = (int(size_gib * 2**30) // (20 * 64 * 64), 20, 64, 64)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        path = Path(tmp) / "large.npy"
        with open(path, "wb") as file:
            np.lib.format.write_array_header_1_0(
                file, {"descr": "|u1", "fortran_order": False, "shape": shape}
            )
            file.truncate(file.tell() + int(np.prod(shape)))
        config = {"kind": "array", "test_path": str(path)}
        growth, seconds = [], []
        for _ in range(runs):
            dataset = build_dataset(config, "test", batch_size=32)
            next(iter(dataset))
            reset_peak_rss()
            before = peak_rss_mib()
            start = time.perf_counter()
            count = sum(int(batch.shape[0]) for batch in dataset)
            seconds.append(time.perf_counter() - start)
            growth.append(peak_rss_mib() - before)
            assert count == shape[0]
        reset_peak_rss()
        before = peak_rss_mib()
        plain = np.load(path, mmap_mode="r")
        for first in range(0, shape[0], 1024):
            plain[first : first + 1024].max()
        plain_growth = peak_rss_mib() - before
        del plain
    return growth, seconds, plain_growth, shape


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, to check the script runs",
    )
    args = parser.parse_args()
    batches = 20 if args.quick else 300
    videos, frames = (12, 100) if args.quick else (599, 500)
    size_gib = 0.1 if args.quick else 2.0

    print("Generated Moving MNIST, 64x64, 2 digits, T=20, batch 8:")
    mnist = bench_moving_mnist(args.runs, batches)
    print(
        f"  {statistics.median(mnist):,.0f} sequences/s (runs: "
        f"{', '.join(f'{r:,.0f}' for r in mnist)})"
    )

    print("KTH frame cache, 128x128, T=20, batch 4:")
    kth = bench_kth(args.runs, batches * 2, videos, frames)
    print(
        f"  {statistics.median(kth):,.0f} sequences/s (runs: "
        f"{', '.join(f'{r:,.0f}' for r in kth)})"
    )

    print(f"One pass over a {size_gib:g} GiB memory-mapped array, batch 32:")
    growth, seconds, plain, shape = bench_memory(
        max(1, (args.runs + 1) // 2), size_gib
    )
    print(f"  {shape[0]:,} sequences (N, T, H, W) = {shape}")
    print(
        f"  peak RSS growth through the reader: "
        f"{statistics.median(growth):.0f} MiB (runs: "
        f"{', '.join(f'{g:.0f}' for g in growth)}), "
        f"{statistics.median(seconds):.1f} s per pass"
    )
    print(f"  peak RSS growth of a plain numpy memmap scan: {plain:.0f} MiB")


if __name__ == "__main__":
    main()
