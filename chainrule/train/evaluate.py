"""Exact test-set likelihood of a model, batched."""

from __future__ import annotations

import math

import torch

from chainrule.data import Dataset
from chainrule.models import AutoregressiveModel


@torch.inference_mode()
def evaluate(model: AutoregressiveModel, dataset: Dataset, batch_size: int = 256) -> dict[str, float]:
    """Mean negative log-likelihood over `dataset`.

    Returns:
        {"nats": nats per example, "bpd": bits per dimension, "examples": N}.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    try:
        for start in range(0, len(dataset), batch_size):
            index = torch.arange(start, min(start + batch_size, len(dataset)))
            x, y = dataset.batch(index)
            cond = y.to(device) if (y is not None and model.num_classes) else None
            total += float(model.log_prob(x.to(device), cond).double().sum())
    finally:
        model.train(was_training)
    nats = -total / len(dataset)
    return {"nats": nats, "bpd": nats / (model.dims * math.log(2)), "examples": len(dataset)}
