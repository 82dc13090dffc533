"""Whether this machine computes bfloat16 natively, for mixed precision,
and the choice of `train.precision = "auto"`."""

import keras

BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")
# NVIDIA GPUs from Ampere (compute capability 8.0) on have bfloat16 tensor
# cores.
GPU_BFLOAT16_CAPABILITY = (8, 0)


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


def accelerators() -> list:
    """The GPUs and TPUs the current Keras backend sees.

    Returns:
        A list of `(kind, compute_capability)`: kind "gpu", "tpu" or "mps";
        compute_capability `(major, minor)` of an NVIDIA GPU, else None.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        found = [
            ("gpu", tuple(torch.cuda.get_device_capability(i)))
            for i in range(torch.cuda.device_count())
        ]
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            found.append(("mps", None))
        return found
    if backend == "jax":
        import jax

        found = []
        for device in jax.devices():
            if device.platform == "cpu":
                continue
            capability = getattr(device, "compute_capability", None)
            found.append((device.platform, _capability(capability)))
        return found
    if backend == "tensorflow":
        import tensorflow as tf

        found = [
            (
                "gpu",
                _capability(
                    tf.config.experimental.get_device_details(device).get(
                        "compute_capability"
                    )
                ),
            )
            for device in tf.config.list_physical_devices("GPU")
        ]
        found += [("tpu", None) for _ in tf.config.list_logical_devices("TPU")]
        return found
    return [
        (device.split(":")[0].lower(), None)
        for device in keras.distribution.list_devices()
        if not device.lower().startswith("cpu")
    ]


def _capability(value):
    """`(major, minor)` from "8.6", (8, 6) or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return tuple(int(part) for part in value.split(".")[:2])
        except ValueError:
            return None
    return tuple(int(part) for part in value)[:2]


def decide_precision(cpu_flags, devices) -> tuple:
    """The precision `train.precision = "auto"` stands for, and why.

    mixed_bfloat16 where bfloat16 is computed natively and measured faster
    at equal quality: TPUs, NVIDIA GPUs with bfloat16 tensor cores (compute
    capability 8.0 and newer), CPUs with AMX or AVX-512 BF16 instructions;
    float32 everywhere else (docs/training.md, "Mixed precision").

    Args:
        cpu_flags: the CPU's bfloat16 instruction sets
            (`cpu_bfloat16_flags`), or None when unknown.
        devices: the accelerators, as `accelerators()` lists them.

    Returns:
        `(precision, reason)`: "float32" or "mixed_bfloat16", and a phrase.
    """
    if devices:
        kinds = sorted({kind for kind, _ in devices})
        if kinds == ["tpu"]:
            return "mixed_bfloat16", "TPUs compute bfloat16 natively"
        if kinds == ["gpu"]:
            capabilities = [c for _, c in devices]
            if all(
                c is not None and c >= GPU_BFLOAT16_CAPABILITY
                for c in capabilities
            ):
                oldest = ".".join(map(str, min(capabilities)))
                return (
                    "mixed_bfloat16",
                    f"GPU of compute capability {oldest}, with bfloat16 "
                    "tensor cores",
                )
            known = [".".join(map(str, c)) for c in capabilities if c]
            return (
                "float32",
                "a GPU without bfloat16 tensor cores (compute capability "
                f"{', '.join(known) if known else 'unknown'}; 8.0 needed)",
            )
        return "float32", f"accelerator {', '.join(kinds)}: bfloat16 untested"
    if cpu_flags is None:
        return "float32", "the CPU's instruction sets cannot be read"
    if cpu_flags:
        return (
            "mixed_bfloat16",
            f"no GPU; this CPU computes bfloat16 ({', '.join(cpu_flags)})",
        )
    return (
        "float32",
        "no GPU, and this CPU has no bfloat16 instructions ("
        f"{' or '.join(BFLOAT16_FLAGS)}): bfloat16 would be emulated, "
        "several times slower",
    )


def auto_precision(cpuinfo="/proc/cpuinfo") -> tuple:
    """`decide_precision` for this machine and Keras backend."""
    return decide_precision(cpu_bfloat16_flags(cpuinfo), accelerators())


def cpu_model(cpuinfo="/proc/cpuinfo") -> str:
    """The CPU's name as /proc/cpuinfo gives it, else the platform's."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def describe_machine() -> str:
    """One line: CPU model, cores, bfloat16 instructions and accelerators."""
    import os

    flags = cpu_bfloat16_flags()
    parts = [f"{cpu_model()}, {os.cpu_count()} cores"]
    if flags:
        parts.append(" ".join(flags))
    devices = accelerators()
    if devices:
        parts.append(
            ", ".join(
                kind + (f" {'.'.join(map(str, c))}" if c else "")
                for kind, c in devices
            )
        )
    else:
        parts.append("no GPU")
    return "; ".join(parts)
