"""The one step loop that sampling and arithmetic coding share: compute the conditional of the next dimension, let
the caller choose its value (draw it, read it from the data, or decode it), feed that value back, repeat.

With the model's generation cache (`init_cache` / `cache_step`) each step costs one position's work; on the naive
path (the reference) each step is a full pass over a tensor that holds the values chosen so far. For the same choices
the loop always performs the same computations in the same order, which is what lets an arithmetic decoder rebuild
the encoder's tables bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Choose = Callable[[int, Tensor], Tensor]
Regroup = Callable[[int], Tensor | None]


@torch.inference_mode()
def walk_conditionals(
    model,
    n: int,
    choose: Choose,
    steps: int | None = None,
    cond: Tensor | None = None,
    regroup: Regroup | None = None,
    cache: bool = True,
    prefix: Tensor | None = None,
) -> None:
    """Walk the model's order for n rows at once.

    Args:
        model: an autoregressive model (eval mode is the caller's business).
        n: rows (examples, or independent segments of a stream).
        choose: called as choose(t, log_probs) with log p(dimension order[t] = k | the values chosen before), float
            (n, K); returns the n chosen values, long (n,).
        steps: number of steps; default: every dimension of the model's shape. Sequence models with a cache
            accept any number (the cache handles what lies past their training length).
        cond: optional conditioning, as for `model.sample`.
        regroup: optional, called as regroup(t) after step t; returns None, or long (n,) row indices: from then
            on row r continues row index[r] (its values so far and the model's state). Used by sequential Monte
            Carlo completion; a cached walk needs the model's `reorder_cache`.
        cache: use the model's generation cache (False: a full pass per step, the reference).
        prefix: optional long (n, P), P < steps: the values of the first P steps, whose conditionals the caller
            does not need (`choose` is not called for them); the cache files them at once (`cache_prefix`). Without
            a cache they are walked as any other.
    """
    steps = model.dims if steps is None else steps
    if cache:
        state, previous = model.init_cache(n, cond), None
        first = 0 if prefix is None else prefix.shape[1]
        for t in range(first, steps):
            filed = t == first and first  # the prefix filed, the conditional of the first step after it
            previous = choose(t, model.cache_prefix(state, prefix) if filed else model.cache_step(state, previous))
            index = regroup(t) if regroup is not None else None
            if index is not None:
                state, previous = model.reorder_cache(state, index), previous[index.to(previous.device)]
        return
    if steps > model.dims:
        raise ValueError(f"the naive path walks at most {model.dims} steps")
    device = next(model.parameters()).device
    x = torch.zeros(n, model.dims, dtype=torch.long, device=device)
    order = model.order.tolist()
    for t in range(steps):
        x[:, order[t]] = choose(t, model.next_log_probs(x.view(n, *model.shape), cond, t)).to(device)
        index = regroup(t) if regroup is not None else None
        if index is not None:
            x = x[index.to(device)]
            cond = None if cond is None else cond[index.to(cond.device)]
