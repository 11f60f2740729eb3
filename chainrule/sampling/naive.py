"""Naive ancestral sampling: one conditional evaluation per dimension, in the model's order.

Also completion: entries of `known` that are ≥ 0 are kept and only the unknown (-1) ones are drawn, each given
everything before it in the order (known or drawn).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import Tensor

from chainrule.distributions.base import sample_from_log_probs
from chainrule.errors import InputError
from chainrule.sampling.requests import check_count, check_known_count, check_temperature


class Samplable(Protocol):
    shape: tuple[int, ...]
    levels: int
    training: bool

    @property
    def order(self) -> Tensor: ...

    def next_log_probs(self, x: Tensor, cond: Tensor | None, t: int) -> Tensor: ...

    def check_cond(self, cond: Tensor | None, batch: int) -> None: ...

    def parameters(self): ...

    def train(self, mode: bool = True): ...


def start_tensor(model: Samplable, n: int, known: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor]:
    """The tensor generation starts from (unknowns set to 0) and the unknown mask, both (n, *shape)."""
    if known is None:
        x = torch.zeros(n, *model.shape, dtype=torch.long, device=device)
        return x, torch.ones_like(x, dtype=torch.bool)
    if tuple(known.shape) != (n, *model.shape) or known.dtype.is_floating_point:
        raise InputError(f"known must be an integer tensor of shape {(n, *model.shape)} with -1 for unknown")
    if int(known.max()) >= model.levels or int(known.min()) < -1:
        raise InputError(f"known has values outside -1..{model.levels - 1}")
    known = known.to(device=device, dtype=torch.long)
    unknown = known < 0
    return known.clamp(min=0), unknown


@torch.inference_mode()
def sample_naive(
    model: Samplable,
    n: int,
    cond: Tensor | None = None,
    temperature: float = 1.0,
    known: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw (or complete) n samples, long (n, *shape), one full model pass per dimension."""
    check_count(n, model.dims)
    check_temperature(temperature)
    check_known_count(n, known)
    device = next(model.parameters()).device
    model.check_cond(cond, n)
    x, unknown = start_tensor(model, n, known, device)
    was_training = model.training
    model.train(False)
    try:
        flat_x, flat_unknown = x.view(n, -1), unknown.view(n, -1)
        for t, position in enumerate(model.order.tolist()):
            todo = flat_unknown[:, position]
            if not bool(todo.any()):
                continue
            draw = sample_from_log_probs(model.next_log_probs(x, cond, t), temperature, generator)
            flat_x[:, position] = torch.where(todo, draw.to(device), flat_x[:, position])
    finally:
        model.train(was_training)
    return x


@torch.inference_mode()
def generate_naive(
    model,
    prompt: Tensor,
    length: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """`sampling.generate` without the cache: every new token re-reads its whole window of past tokens (the same
    window the cache holds, `model.window_start`) in one full pass. Same random stream, same draws."""
    from chainrule.sampling.cached import top_k_filter

    if length < 0:
        raise InputError(f"length={length} must be ≥ 0")
    check_temperature(temperature)
    device = next(model.parameters()).device
    was_training = model.training
    model.train(False)
    history, start, out = prompt.tolist(), 0, []
    for consumed in range(1, len(history) + 1):  # the window moves as the prompt is fed, token by token
        start = model.window_start(consumed, start)
    try:
        for _ in range(length):
            x = torch.tensor([history[start:] + [0]], device=device)  # the last entry is only a placeholder
            log_probs = torch.log_softmax(model(x)[:, -1].float(), dim=-1)
            draw = sample_from_log_probs(top_k_filter(log_probs, top_k), temperature, generator)
            history.append(int(draw[0]))
            out.append(history[-1])
            start = model.window_start(len(history), start)
    finally:
        model.train(was_training)
    return torch.tensor(out, dtype=torch.long)
