"""Whether this machine computes bfloat16 natively, for mixed precision."""

import keras

BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_bfloat16_flags(cpuinfo="/proc/cpuinfo"):
    """The CPU's bfloat16 instruction sets, as `/proc/cpuinfo` names them.

    Returns:
        The sorted subset of `BFLOAT16_FLAGS` the CPU has, or `None` where
        `cpuinfo` cannot be read (not Linux): unknown, not absent.
    """
    try:
        with open(cpuinfo) as f:
            words = set(f.read().split())
    except OSError:
        return None
    return sorted(words.intersection(BFLOAT16_FLAGS))


def accelerator_visible() -> bool:
    """Whether the current Keras backend sees a GPU or TPU."""
    if keras.backend.backend() == "torch":
        import torch  # the backend itself: already imported

        mps = getattr(torch.backends, "mps", None)
        return torch.cuda.is_available() or bool(mps and mps.is_available())
    return any(
        not device.lower().startswith("cpu")
        for device in keras.distribution.list_devices()
    )


def mixed_precision_warning(precision, accelerator=None, cpuinfo="/proc/cpuinfo"):
    """A warning for `mixed_bfloat16` on a CPU that emulates bfloat16.

    Args:
        precision: `train.precision` ("float32" or "mixed_bfloat16").
        accelerator: whether a GPU or TPU is visible; by default asked of
            the backend (`accelerator_visible`).
        cpuinfo: the file naming the CPU's instruction sets.

    Returns:
        The warning's text, or `None` when there is nothing to warn about:
        float32, an accelerator, a CPU with bfloat16 instructions, or a CPU
        whose instructions cannot be read.
    """
    if precision != "mixed_bfloat16":
        return None
    if accelerator is None:
        accelerator = accelerator_visible()
    if accelerator:
        return None
    flags = cpu_bfloat16_flags(cpuinfo)
    if flags is None or flags:
        return None
    return (
        "Warning: train.precision is 'mixed_bfloat16', but no GPU is visible "
        f"and this CPU has no bfloat16 instructions ({' or '.join(BFLOAT16_FLAGS)}"
        f" in {cpuinfo}): its bfloat16 convolutions are emulated and run "
        "several times slower than float32 (docs/performance.md). "
        "Training goes on as the recipe asks; --precision float32 is faster "
        "here."
    )
