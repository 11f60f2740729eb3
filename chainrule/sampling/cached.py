"""Cached ancestral sampling: the model keeps what it computed for the prefix (recurrent state, attention keys and
values) and each step costs one position's work. Draws from the same random stream as `sample_naive`, so with the
same generator both give the same samples.

Every model has `init_cache(n, cond)` and `cache_step(cache, previous)` (the base contract): the cache is fed the
value of the previous dimension in the model's `order` (None at the start) and returns the log-probabilities of the
next one (see `models/base.py`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from chainrule.distributions.base import sample_from_log_probs
from chainrule.errors import InputError
from chainrule.sampling.conditionals import walk_conditionals
from chainrule.sampling.naive import start_tensor
from chainrule.sampling.requests import check_count, check_known_count, check_temperature


def top_k_filter(log_probs: Tensor, k: int | None) -> Tensor:
    """Keep the k most likely values (renormalised); None or k ≥ K keeps all."""
    if not k or k >= log_probs.shape[-1]:
        return log_probs
    kth = log_probs.topk(k, dim=-1).values[..., -1:]
    return torch.log_softmax(log_probs.masked_fill(log_probs < kth, float("-inf")), dim=-1)


@torch.inference_mode()
def sample_cached(
    model,
    n: int,
    cond: Tensor | None = None,
    temperature: float = 1.0,
    known: Tensor | None = None,
    generator: torch.Generator | None = None,
    on_step: Callable[[int, Tensor], None] | None = None,
) -> Tensor:
    """Draw (or complete) n samples, long (n, *shape), with the model's generation cache. `on_step(t, x)` is
    called after each step t of the order with the samples so far (progress, partial output; not for the leading
    known values filed at once)."""
    check_count(n, model.dims)
    check_temperature(temperature)
    check_known_count(n, known)
    device = next(model.parameters()).device
    model.check_cond(cond, n)
    x, unknown = start_tensor(model, n, known, device)
    was_training = model.training
    model.train(False)
    try:
        flat_x, flat_unknown, order = x.view(n, -1), unknown.view(n, -1), model.order.tolist()

        def draw_all(t: int, log_probs: Tensor) -> Tensor:  # nothing known: every value is drawn
            draw = sample_from_log_probs(log_probs, temperature, generator).to(device)
            flat_x[:, order[t]] = draw
            return draw

        # per position: is any row unknown there (draw), is every row (no mix with the known values)
        some, every = flat_unknown.any(0).tolist(), flat_unknown.all(0).tolist()

        def choose(t: int, log_probs: Tensor) -> Tensor:
            position = order[t]
            if some[position]:
                draw = sample_from_log_probs(log_probs, temperature, generator).to(device)
                if every[position]:
                    flat_x[:, position] = draw
                    return draw
                flat_x[:, position] = torch.where(flat_unknown[:, position], draw, flat_x[:, position])
            return flat_x[:, position]

        prefix = None
        if known is not None:  # the leading known values of every row are filed at once, never drawn
            led = int(flat_unknown[:, order].any(0).long().argmax()) if bool(flat_unknown.any()) else len(order)
            if led == len(order):
                return x
            prefix = flat_x[:, order[:led]]
        step = choose if known is not None else draw_all
        if on_step is not None:

            def reported(t: int, log_probs: Tensor, chosen=step) -> Tensor:
                value = chosen(t, log_probs)
                on_step(t, x)
                return value

            step = reported
        walk_conditionals(model, n, step, cond=cond, prefix=prefix)
    finally:
        model.train(was_training)
    return x


@torch.inference_mode()
def generate(
    model,
    prompt: Tensor,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    on_token: Callable[[int], None] | None = None,
) -> Tensor:
    """Continue one token sequence: `prompt` long (P,) (may be empty), then `length` new tokens, any length (the
    model's cache handles what lies past its context). Calls `on_token(id)` for every new token (streaming).
    Returns the new tokens, long (length,)."""
    if length < 0:
        raise InputError(f"length={length} must be ≥ 0")
    check_temperature(temperature)
    if top_k is not None and top_k < 1:
        raise InputError(f"top_k={top_k} must be ≥ 1")
    was_training = model.training
    model.train(False)
    try:
        cache = model.init_cache(1)
        log_probs = model.cache_step(cache, None)
        for token in prompt.tolist():
            log_probs = model.cache_step(cache, torch.tensor([token]))
        out = []
        for _ in range(length):
            draw = sample_from_log_probs(top_k_filter(log_probs, top_k), temperature, generator)
            out.append(int(draw[0]))
            if on_token is not None:
                on_token(out[-1])
            log_probs = model.cache_step(cache, draw)
    finally:
        model.train(was_training)
    return torch.tensor(out, dtype=torch.long)
