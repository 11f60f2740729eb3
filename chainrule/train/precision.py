"""The training step's precision: `auto` (the default), `fp32` or `bf16` (autocast around the training loss;
evaluation, sampling and coding always run in fp32).

`auto` picks bf16 where it trains faster. On a CUDA device that supports bf16 it does. On a CPU with bf16
instructions (AVX-512-BF16, or AMX-BF16 tiles) it depends on the model, so `auto` measures: a few forward and
backward passes of the run's first batch in each precision (the `probe`), bf16 only if it is at least 5 % faster.
Without a probe (a run too short to be worth timing) an AMX CPU gets bf16 and one without AMX fp32. Measured
(BENCHMARKS.md, "bf16 on an AMX CPU"): on a 2-core Xeon with AMX, bf16 trained the convolutional models at their
`cpu` presets 1.25-1.5x faster and the Char-RNN 1.7x, but the `cpu` Transformer (batch 12 x 64, width 128) at
0.79-0.87x (with dropout 0.1: 1.27x) and PixelSNAIL at 1.04x; on 2-core CPUs with AVX-512-BF16 but no AMX the bf16
matmul peak measured below fp32 and bf16 trained the Transformer at 0.53x but Gated PixelCNN 11 x 128 at 1.17x. On
AVX2-only CPUs bf16 is a slow software path: fp32.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

PRECISIONS = ("auto", "fp32", "bf16")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})  # a CPU's bf16 instructions: whether bf16 pays is measured


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
    seconds of a training pass in precision p; `auto` calls it on a CPU with bf16 instructions, twice each way
    alternately (without a probe, a CPU with AMX gets bf16, one without fp32)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    flags = cpu_flags() if flags is None and device.type == "cpu" else flags
    if device.type == "cpu" and probe is not None and flags & BF16_FLAGS:
        # alternated twice, the faster of each: one probe each way picked wrong 1 time in 5 at a 0.79x ratio
        rounds = [{p: probe(p) for p in ("fp32", "bf16")} for _ in range(2)]
        fp32, bf16 = (min(r[p] for r in rounds) for p in ("fp32", "bf16"))
        return "bf16" if bf16 < 0.95 * fp32 else "fp32"
    return "bf16" if has_bf16_units(device, flags) else "fp32"
