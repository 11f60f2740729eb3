"""Exact test-set likelihood of a model, batched."""

from __future__ import annotations

import math

import torch

from chainrule.data import Dataset
from chainrule.models import AutoregressiveModel


@torch.inference_mode()
def evaluate(
    model: AutoregressiveModel, dataset: Dataset, batch_size: int = 256, dequantized: bool = False
) -> dict[str, float]:
    """Mean negative log-likelihood over `dataset`; with `dequantized`, the continuous density of x + u instead
    (one seeded uniform draw u per example; models with a `dequantized_log_prob`), an upper bound on the NLL.

    Returns:
        {"nats": nats per example, "bpd": bits per dimension, "examples": N}.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    generator = torch.Generator(device=device).manual_seed(0)
    try:
        for start in range(0, len(dataset), batch_size):
            index = torch.arange(start, min(start + batch_size, len(dataset)))
            x, y = dataset.batch(index)
            cond = y.to(device) if (y is not None and model.num_classes) else None
            x = x.to(device)
            if dequantized:
                model.check_input(x, cond)
                log_p = model.dequantized_log_prob(x, cond, generator=generator)
            else:
                log_p = model.log_prob(x, cond)
            total += float(log_p.double().sum())
    finally:
        model.train(was_training)
    nats = -total / len(dataset)
    return {"nats": nats, "bpd": nats / (model.dims * math.log(2)), "examples": len(dataset)}
