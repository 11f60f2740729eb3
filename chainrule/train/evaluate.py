"""Exact test-set likelihood of a model, batched."""

from __future__ import annotations

import math

import torch
from tqdm import tqdm

from chainrule.data import Dataset
from chainrule.errors import InputError
from chainrule.models.base import AutoregressiveModel
from chainrule.models.trainable import Trainable
from chainrule.orders import Ordering
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
def evaluate_orders(
    model: AutoregressiveModel, dataset: Dataset, count: int, batch_size: int = 256, progress: bool = False
) -> dict[str, object]:
    """An any-order model's test likelihood under each of its first `count` trained orders and under their uniform
    mixture, log (1/K) Σ_k p_k(x) (exact: each p_k is normalised).

    Returns:
        {"orders": {name: bits/dim}, "best": name, "best_bpd", "ensemble_bpd", "ensemble_nats", "examples"}.

    Raises:
        InputError: a model of one order, or count outside 1..(its trained orders)."""
    names = model.trained_orders
    if model.ordering is not Ordering.ANY or not names:
        raise InputError(f"this {model.registry_name} model generates in one order: --orders needs an lmconv model")
    if not 1 <= count <= len(names):
        raise InputError(f"--orders {count}: this model was trained over {len(names)} orders (1..{len(names)})")
    names = names[:count]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals = torch.zeros(count, dtype=torch.float64)
    ensemble = 0.0
    bar = tqdm(total=len(dataset), desc="evaluating orders", unit="ex", disable=None if progress else True, leave=False)
    try:
        for start in range(0, len(dataset), batch_size):
            index = torch.arange(start, min(start + batch_size, len(dataset)))
            x, y = dataset.batch(index)
            cond = dataset.condition(index, y, bool(model.num_classes), bool(model.map_shape), device)
            x = model.check_input(x.to(device), cond)
            per_order = []
            for name in names:
                with model.ordered(name):
                    per_order.append(model.dim_log_probs(x, cond).flatten(1).sum(1).double())
            stacked = torch.stack(per_order)
            totals -= stacked.sum(1).cpu()
            ensemble -= float((torch.logsumexp(stacked, 0) - math.log(count)).sum())
            bar.update(len(index))
    finally:
        bar.close()
        model.train(was_training)
    per_dim = len(dataset) * model.dims * math.log(2)
    bpd = {name: float(t) / per_dim for name, t in zip(names, totals, strict=True)}
    best = min(bpd, key=bpd.__getitem__)
    return {
        "orders": bpd,
        "best": best,
        "best_bpd": bpd[best],
        "ensemble_bpd": ensemble / per_dim,
        "ensemble_nats": ensemble / len(dataset),
        "examples": len(dataset),
    }


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


@torch.inference_mode()
def evaluate_frames(
    model: AutoregressiveModel, dataset: Dataset, given: int, batch_size: int = 8, progress: bool = False
) -> dict[str, float]:
    """Frame prediction (the Video Pixel Networks protocol): −log p(frames ≥ given | frames < given) of every
    video of `dataset`, per predicted frame. For grey frames read as probabilities (`binarize="soft"` data) the
    figure is their cross-entropy against the model, and `bound_nats_per_frame` its floor, the targets' entropy.

    Returns:
        {"nats_per_frame", "bpd" (bits per predicted dimension), "examples", "frames" (predicted per video)} and,
        for probabilities, "bound_nats_per_frame".

    Raises:
        InputError: a model that is not a video model, or `given` outside 0 .. frames − 1.
    """
    from chainrule.distributions import Bernoulli
    from chainrule.errors import InputError

    if not model.data_kind.is_video:
        raise InputError(f"frames are given to a video model; this {model.registry_name} models {model.data_kind.name}")
    frames = model.shape[0]
    if not 0 <= given < frames:
        raise InputError(f"--given {given}: give 0 .. {frames - 1} of the model's {frames} frames")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    nats, bound, count = 0.0, 0.0, len(dataset)
    bar = tqdm(total=count, desc="predicted frames", unit="video", disable=None if progress else True, leave=False)
    try:
        for start in range(0, count, batch_size):
            index = torch.arange(start, min(start + batch_size, count))
            x, _ = dataset.batch(index)
            x = x.to(device)
            nats -= float(model.frame_log_probs(x)[:, given:].double().sum())
            if x.dtype.is_floating_point:
                bound += float(Bernoulli.entropy(x[:, given:]).sum())
            bar.update(len(index))
    finally:
        bar.close()
        model.train(was_training)
    predicted = frames - given
    per_frame = nats / (count * predicted)
    result = {
        "nats_per_frame": per_frame,
        "bpd": per_frame / (math.prod(model.shape[1:]) * math.log(2)),
        "examples": count,
        "frames": predicted,
    }
    if dataset.binarize == "soft":
        result["bound_nats_per_frame"] = bound / (count * predicted)
    return result
