"""The warning for mixed precision on a CPU that emulates bfloat16."""

from predrnn_keras import hardware

# Abridged /proc/cpuinfo files: an AVX2-only CPU, one with AVX-512 BF16.
AVX2 = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
    "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw avx512_bf16x\n"
    "processor\t: 1\nflags\t\t: fpu sse2 avx avx2 fma avx512f avx512bw\n"
)
BF16 = AVX2.replace("avx512bw\n", "avx512bw avx512_bf16 avx_vnni\n")


def write(tmp_path, text, name="cpuinfo"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_flags_read_from_cpuinfo(tmp_path):
    assert hardware.cpu_bfloat16_flags(write(tmp_path, AVX2)) == []
    assert hardware.cpu_bfloat16_flags(write(tmp_path, BF16)) == [
        "avx512_bf16"
    ]
    both = write(tmp_path, BF16.replace("fpu", "amx_bf16 fpu"))
    assert hardware.cpu_bfloat16_flags(both) == ["amx_bf16", "avx512_bf16"]
    # Unreadable is unknown, not "none".
    assert hardware.cpu_bfloat16_flags(str(tmp_path / "missing")) is None


def test_warns_only_for_mixed_precision_on_an_emulating_cpu(tmp_path):
    avx2, bf16 = write(tmp_path, AVX2, "a"), write(tmp_path, BF16, "b")
    text = hardware.mixed_precision_warning(
        "mixed_bfloat16", accelerator=False, cpuinfo=avx2
    )
    assert "mixed_bfloat16" in text and avx2 in text
    assert "avx512_bf16" in text and "--precision float32" in text
    # Nothing to say: float32, a GPU, bfloat16 instructions, or unknown.
    warn = hardware.mixed_precision_warning
    assert warn("float32", accelerator=False, cpuinfo=avx2) is None
    assert warn("mixed_bfloat16", accelerator=True, cpuinfo=avx2) is None
    assert warn("mixed_bfloat16", accelerator=False, cpuinfo=bf16) is None
    missing = str(tmp_path / "missing")
    assert warn("mixed_bfloat16", accelerator=False, cpuinfo=missing) is None


def test_asks_the_backend_for_an_accelerator(tmp_path):
    # The default path works on every backend (PyTorch has no
    # keras.distribution.list_devices) and agrees with the backend.
    visible = hardware.accelerator_visible()
    assert isinstance(visible, bool)
    text = hardware.mixed_precision_warning(
        "mixed_bfloat16", cpuinfo=write(tmp_path, AVX2)
    )
    assert (text is None) == visible


def test_auto_precision_on_cpus():
    decide = hardware.decide_precision
    precision, reason = decide(["amx_bf16", "avx512_bf16"], [])
    assert precision == "mixed_bfloat16" and "amx_bf16" in reason
    assert decide(["avx512_bf16"], [])[0] == "mixed_bfloat16"
    precision, reason = decide([], [])
    assert precision == "float32" and "emulated" in reason
    # Unknown instruction sets (not Linux): the safe choice.
    precision, reason = decide(None, [])
    assert precision == "float32" and "cannot be read" in reason


def test_auto_precision_on_accelerators():
    decide = hardware.decide_precision
    # An accelerator decides, whatever the CPU has.
    assert decide([], [("gpu", (8, 0))])[0] == "mixed_bfloat16"
    assert decide([], [("gpu", (9, 0)), ("gpu", (8, 6))]) == (
        "mixed_bfloat16",
        "GPU of compute capability 8.6, with bfloat16 tensor cores",
    )
    # A V100 (7.0) has no bfloat16 tensor cores; one old GPU decides for all.
    precision, reason = decide(["amx_bf16"], [("gpu", (7, 0))])
    assert precision == "float32" and "7.0" in reason
    assert decide([], [("gpu", (9, 0)), ("gpu", (7, 5))])[0] == "float32"
    assert decide([], [("gpu", None)])[0] == "float32"
    assert decide([], [("tpu", None)])[0] == "mixed_bfloat16"
    assert decide(["amx_bf16"], [("mps", None)])[0] == "float32"


def test_capability_parsing_and_this_machine():
    assert hardware._capability("8.6") == (8, 6)
    assert hardware._capability((9, 0)) == (9, 0)
    assert hardware._capability(None) is None
    assert hardware._capability("gfx90a") is None
    found = hardware.accelerators()
    assert all(kind in ("gpu", "tpu", "mps") for kind, _ in found)
    assert bool(found) == hardware.accelerator_visible()
    precision, reason = hardware.auto_precision()
    assert precision in ("float32", "mixed_bfloat16") and reason
