"""The training step's precision: `auto` (the default), `fp32` or `bf16` (autocast around the training loss;
evaluation, sampling and coding always run in fp32).

`auto` picks bf16 where the device has bf16 matrix units that beat its fp32 ones: a CUDA device that supports bf16,
or a CPU with AMX-BF16 tiles (`amx_bf16` in its flags). A CPU with AVX-512-BF16 but no AMX is left at fp32: on two
such machines (2 cores, torch 2.13) the bf16 matmul peak measured 136-184 GFLOP/s against 202-301 in fp32, and bf16
autocast trained at 0.53x (Transformer) and 0.84x (Gated PixelCNN) the fp32 speed (BENCHMARKS.md). On AVX2-only
CPUs bf16 is a slow software path.
"""

from __future__ import annotations

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


def training_precision(precision: str, device: torch.device, flags: frozenset[str] | None = None) -> str:
    """The precision a training run uses: "fp32" or "bf16" (`auto` resolved for `device`)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if has_bf16_units(device, flags) else "fp32"
    return precision
