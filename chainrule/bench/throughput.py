"""Throughput benchmark: training examples per second at a preset for each speed variant (fp32, bf16 autocast,
compiled, channels-last, fused AdamW; `train.speed`), medians of steps timed in alternation across the variants
(this machine's speed drifts between minutes), one optimizer step = forward + backward +
AdamW update on real batches; the FLOPs of one training step counted by torch's flop counter (matrix products and
convolutions; element-wise work is not counted), the FLOP/s achieved, and that as a fraction of the machine's
matmul peak measured in the same run. Optionally the time to draw samples and the generation speed."""

from __future__ import annotations

import logging
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch

from chainrule.bench.machine import peak_matmul_flops
from chainrule.data import load_splits
from chainrule.models import create, preset_hparams
from chainrule.train import speed
from chainrule.train.distributed import LogLikelihood

# speed variants: the settings of `train.speed` (and bf16 autocast) each one turns on
VARIANTS: dict[str, dict[str, bool]] = {
    "fp32": {},
    "bf16": {"bf16": True},
    "compiled": {"compile": True},
    "channels-last": {"channels_last": True},
    "fused": {"fused": True},
    "combined": {"compile": True, "channels_last": True, "fused": True},
}


def training_step(
    model,
    x: torch.Tensor,
    bf16: bool = False,
    compile: bool = False,
    channels_last: bool = False,
    fused: bool = False,
    warmup: int = 2,
) -> Callable[[int], float]:
    """A function that runs training step i (forward + backward + AdamW) of `model` on `x` with the given speed
    settings and returns its seconds; `warmup` steps are run first (3 more when compiling: the first calls
    compile)."""
    model = speed.apply_memory_format(model, channels_last)
    net = speed.compiled(LogLikelihood(model), compile)
    optimizer = speed.optimizer(model, 1e-4, fused=fused)
    model.train()

    def step(i: int) -> float:
        start = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = -net(x, None, i).float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for i in range(warmup + (3 if compile else 0)):
        step(i)
    return step


def training_flops(model, x: torch.Tensor) -> float:
    """FLOPs of one training step (forward + backward) per example, as torch's flop counter counts them."""
    from torch.utils.flop_counter import FlopCounterMode

    model.train()
    with FlopCounterMode(display=False) as counter:
        (-model.training_log_prob(x, None, 0).float().mean()).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / len(x)


def sample_seconds(model, n: int = 16, repeats: int = 1) -> float:
    """Median seconds to draw n samples (the model's default generation path)."""
    device = next(model.parameters()).device
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        model.sample(n, generator=torch.Generator(device=device).manual_seed(seed))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_rates(model, tokens: int, repeats: int = 3) -> dict[str, float]:
    """Tokens/s generating `tokens` tokens (one sequence) with the model's cache and without it: medians of
    `repeats` runs of each, alternated so that both paths see the same machine load."""
    from chainrule.sampling import generate, generate_naive

    seconds: dict[str, list[float]] = {"cached": [], "uncached": []}
    for _ in range(repeats):
        for label, fn in (("cached", generate), ("uncached", generate_naive)):
            start = time.perf_counter()
            fn(model, torch.zeros(0, dtype=torch.long), tokens, generator=torch.Generator().manual_seed(0))
            seconds[label].append(time.perf_counter() - start)
    rates = {f"{label}_tokens_per_s": tokens / statistics.median(times) for label, times in seconds.items()}
    rates["cache_speedup"] = statistics.median(
        u / c for c, u in zip(seconds["cached"], seconds["uncached"], strict=True)
    )
    return rates


def measure(
    model_name: str,
    data: str,
    levels: int | None,
    preset: str,
    batch_size: int = 64,
    steps: int = 10,
    device: str = "cpu",
    sample: int = 0,
    generate_tokens: int = 0,
    variants: tuple[str, ...] = ("fp32", "bf16"),
) -> dict[str, Any]:
    """Examples/s of each variant (`VARIANTS`) training `model_name` at `preset` on batches of `data`, FLOPs per
    example and the fraction of the measured fp32 / bf16 matmul peak reached; with `sample` > 0, also the seconds
    to draw that many samples; with `generate_tokens` > 0 (sequence models), tokens/s generated with and without
    the cache."""
    train = load_splits(data, levels)["train"]
    x = train.x[:batch_size].to(device)
    hparams = preset_hparams(model_name, preset, train.shape, train.levels)
    row: dict[str, Any] = {"model": model_name, "preset": preset, "data": train.description, "batch_size": batch_size}
    for dtype in ("fp32", "bf16"):  # first, before any compile workers or warm caches
        row[f"peak_{dtype}_flops"] = peak_matmul_flops(dtype, device)
    labels = list(dict.fromkeys(("fp32", *variants)))
    steppers: dict[str, Callable[[int], float]] = {}
    for label in labels:  # build and warm up every variant (compiling where asked) ...
        torch.manual_seed(0)
        model = create(model_name, shape=train.shape, levels=train.levels, **hparams).to(device)
        row["parameters"] = sum(p.numel() for p in model.parameters())
        try:
            steppers[label] = training_step(model, x, **VARIANTS[label])
        except RuntimeError as err:  # e.g. oneDNN has no bf16 LSTM on CPUs without bf16 instructions
            if label == "fp32":
                raise
            logging.getLogger(__name__).warning("%s training not supported here: %s", label, str(err).splitlines()[0])
    seconds: dict[str, list[float]] = {label: [] for label in steppers}
    for i in range(steps):  # ... then time them in alternation, so that all see the same machine load
        for label, step in steppers.items():
            seconds[label].append(step(10 + i))
    for label in labels:
        row[f"{label}_examples_per_s"] = (
            batch_size / statistics.median(seconds[label]) if label in seconds else math.nan
        )
    row["flops_per_example"] = training_flops(model, x)
    for label in labels:
        achieved = row["flops_per_example"] * row[f"{label}_examples_per_s"]
        row[f"{label}_flops"] = achieved
        row[f"{label}_of_peak"] = achieved / row["peak_bf16_flops" if label == "bf16" else "peak_fp32_flops"]
    if sample:
        row["sample_seconds"] = sample_seconds(model.eval(), sample)
    if generate_tokens:
        row.update(generation_rates(model.eval(), generate_tokens))
    row["tokens_per_example"] = math.prod(train.shape)
    return row
