"""Throughput benchmark: training examples per second (fp32 and bf16 autocast) at a preset, median of repeats,
one optimizer step = forward + backward + AdamW update, on real batches; optionally the time to draw samples."""

from __future__ import annotations

import logging
import math
import statistics
import time
from typing import Any

import torch

from chainrule.data import load_splits
from chainrule.models import create, presets


def step_seconds(model, x: torch.Tensor, bf16: bool, steps: int, warmup: int = 2) -> list[float]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = -model.training_log_prob(x, None, i).float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def sample_seconds(model, n: int = 16, repeats: int = 1) -> float:
    """Median seconds to draw n samples (the model's default generation path)."""
    device = next(model.parameters()).device
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        model.sample(n, generator=torch.Generator(device=device).manual_seed(seed))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def generation_rates(model, tokens: int) -> dict[str, float]:
    """Tokens/s generating `tokens` tokens (one sequence) with the model's cache and without it."""
    from chainrule.sampling import generate, generate_naive

    rates = {}
    for label, fn in (("cached", generate), ("uncached", generate_naive)):
        start = time.perf_counter()
        fn(model, torch.zeros(0, dtype=torch.long), tokens, generator=torch.Generator().manual_seed(0))
        rates[f"{label}_tokens_per_s"] = tokens / (time.perf_counter() - start)
    rates["cache_speedup"] = rates["cached_tokens_per_s"] / rates["uncached_tokens_per_s"]
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
) -> dict[str, Any]:
    """Examples/s for fp32 and bf16 training of `model_name` at `preset` on batches of `data`; with `sample` > 0,
    also the seconds to draw that many samples; with `generate_tokens` > 0 (sequence models), tokens/s generated
    with and without the cache."""
    train = load_splits(data, levels)["train"]
    x = train.x[:batch_size].to(device)
    hparams = {k: v for k, v in presets(model_name)[preset].items() if k != "train"}
    row: dict[str, Any] = {"model": model_name, "preset": preset, "data": train.description, "batch_size": batch_size}
    for label, bf16 in (("fp32", False), ("bf16", True)):
        torch.manual_seed(0)
        model = create(model_name, shape=train.shape, levels=train.levels, **hparams).to(device)
        row["parameters"] = sum(p.numel() for p in model.parameters())
        try:
            row[f"{label}_examples_per_s"] = batch_size / statistics.median(step_seconds(model, x, bf16, steps))
        except RuntimeError as err:  # e.g. oneDNN has no bf16 LSTM on CPUs without bf16 instructions
            if not bf16:
                raise
            logging.getLogger(__name__).warning("bf16 training not supported here: %s", str(err).splitlines()[0])
            row[f"{label}_examples_per_s"] = float("nan")
    row["bf16_over_fp32"] = row["bf16_examples_per_s"] / row["fp32_examples_per_s"]
    if sample:
        row["sample_seconds"] = sample_seconds(model.eval(), sample)
    if generate_tokens:
        row.update(generation_rates(model.eval(), generate_tokens))
    row["tokens_per_example"] = math.prod(train.shape)
    return row
