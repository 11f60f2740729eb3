"""The training step's precision: `auto` (the default), `fp32` or `bf16` (autocast around the training loss;
evaluation, sampling and coding always run in fp32).

`auto` picks bf16 where the device has bf16 matrix units that beat its fp32 ones: a CUDA device that supports bf16,
or a CPU with AMX-BF16 tiles (`amx_bf16` in its flags). On a CPU with AVX-512-BF16 but no AMX it depends on the
model, so `auto` measures: a few forward and backward passes of the run's first batch in each precision (the
`probe`), bf16 only if it is at least 5 % faster. On such machines (2 cores, torch 2.13) the bf16 matmul peak
measured 136-184 GFLOP/s against 202-301 in fp32 and bf16 trained the Transformer at 0.53x, but the wide
convolutional models at 1.17x (Gated PixelCNN 11 x 128) and 1.25x (PixelSNAIL 8 x 64; BENCHMARKS.md). On
AVX2-only CPUs bf16 is a slow software path: fp32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as the kernel reports them (empty where there is no such file)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_bf16_units(device: torch.device, flags: frozenset[str] | None = None) -> bool:
    """Whether bf16 matrix products on `device` run faster than fp32 ones, from its reported capability."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return "amx_bf16" in (cpu_flags() if flags is None else flags)
    return False


def training_precision(
    precision: str,
    device: torch.device,
    flags: frozenset[str] | None = None,
    probe: Callable[[str], float] | None = None,
) -> str:
    """The precision a training run uses: "fp32" or "bf16" (`auto` resolved for `device`). `probe(p)` returns the
    seconds of a training pass in precision p; `auto` calls it on a CPU with bf16 instructions but no AMX (without
    a probe, such a CPU gets fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    flags = cpu_flags() if flags is None and device.type == "cpu" else flags
    if has_bf16_units(device, flags):
        return "bf16"
    if device.type == "cpu" and "avx512_bf16" in flags and probe is not None:
        return "bf16" if probe("bf16") < 0.95 * probe("fp32") else "fp32"
    return "fp32"
