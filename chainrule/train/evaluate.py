"""Exact test-set likelihood of a model, batched."""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from chainrule.data import Dataset
from chainrule.models.base import AutoregressiveModel
from chainrule.models.trainable import Trainable
from chainrule.train.distributed import Ranks, total


@torch.inference_mode()
def evaluate(
    model: Trainable,
    dataset: Dataset,
    batch_size: int = 256,
    dequantized: bool = False,
    ranks: Ranks | None = None,
    progress: bool = False,
    desc: str = "evaluating",
) -> dict[str, float]:
    """The model's evaluation of `dataset` (`Trainable.evaluation_sums` over batches, then `evaluation_result`): for
    a likelihood model the mean negative log-likelihood; with `dequantized`, the continuous density of x + u instead
    (one seeded uniform draw u per example; models with a `dequantized_log_prob`), an upper bound on the NLL.
    With `ranks` (data-parallel training), each process scores every world-th example and the sums are reduced.
    `progress` shows a bar (examples) named `desc`.

    Returns:
        the model's metrics and "examples": N; for a likelihood model {"nats": nats per example, "bpd": bits per
        dimension, "examples": N}.
    """
    sequence = model.data_kind.is_text or model.data_kind.is_audio  # sequence models score whole streams
    if dataset.is_stream and sequence and not dequantized:
        return evaluate_stream(model, dataset, batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ranks = ranks or Ranks()
    sums: dict[str, float] = {}
    generator = torch.Generator(device=device).manual_seed(ranks.rank)
    mine = torch.arange(ranks.rank, len(dataset), ranks.world)
    bar = tqdm(total=len(mine), desc=desc, unit="ex", disable=None if progress else True, leave=False, mininterval=0.5)
    try:
        for start in range(0, len(mine), batch_size):
            index = mine[start : start + batch_size]
            x, y = dataset.batch(index)
            cond = dataset.condition(index, y, bool(model.num_classes), bool(model.map_shape), device)
            x = x.to(device)
            if dequantized:
                x = model.check_input(x, cond)
                part = {"nats": -float(model.dequantized_log_prob(x, cond, generator=generator).double().sum())}
            else:
                part = model.evaluation_sums(x, cond)
            for key, value in part.items():
                sums[key] = sums.get(key, 0.0) + value
            bar.update(len(index))
    finally:
        bar.close()
        model.train(was_training)
    keys = sorted(sums)
    totals = dict(zip(keys, total([sums[k] for k in keys], ranks), strict=True))
    return {**model.evaluation_result(totals, len(dataset)), "examples": len(dataset)}


@torch.inference_mode()
def evaluate_stream(model: AutoregressiveModel, dataset: Dataset, batch_size: int = 64) -> dict[str, float]:
    """A text split scored as one document (every token, with the context the model's `stream_log_probs` gives).

    Returns:
        {"nats": nats per chunk of T tokens, "bpd": bits per token (bits/char for characters or ASCII bytes),
        "examples": tokens}.
    """
    was_training = model.training
    model.eval()
    try:
        total = float(model.stream_log_probs(dataset.tokens, batch_size).double().sum())
    finally:
        model.train(was_training)
    per_token = -total / len(dataset.tokens)
    return {"nats": per_token * model.dims, "bpd": per_token / math.log(2), "examples": len(dataset.tokens)}
