"""The machine a figure was measured on: a one-line description and its measured matmul peak."""

from __future__ import annotations

import os
import platform
import time

import torch


def describe(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{os.cpu_count()} cores {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def peak_matmul_flops(dtype: str = "fp32", device: str = "cpu", size: int = 768, repeats: int = 3) -> float:
    """The machine's matmul peak as measured here: FLOP/s of the best of `repeats` square (size x size) products
    in fp32 or bf16 on `device`, at the current number of threads. (On CPUs without bf16 instructions torch's bf16
    matmul is a generic fallback, far below fp32, while oneDNN's bf16 convolutions convert to fp32 internally:
    convolutional models then exceed this "peak" in bf16.)"""
    kind = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a = torch.randn(size, size, device=device).to(kind)
    b = torch.randn(size, size, device=device).to(kind)
    best = float("inf")
    for _ in range(repeats + 1):  # the first warms up
        start = time.perf_counter()
        torch.mm(a, b)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best
