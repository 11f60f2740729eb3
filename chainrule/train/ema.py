"""Exponential moving average (Polyak averaging) of the weights, for evaluation and sampling.

After every optimizer step: shadow ← d · shadow + (1 - d) · weights, with d = min(decay, (1 + n) / (10 + n)) at the
n-th update, so that the early average is not dominated by the random initial weights. Buffers (masks and the
like) are not averaged.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

PREFIX = "ema."


class ExponentialMovingAverage:
    """Shadow copies of `model`'s parameters, averaged with `decay` (0 < decay < 1)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay={decay} must be in (0, 1)")
        self.decay = decay
        self.updates = 0
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for name, p in model.named_parameters():
            self.shadow[name].lerp_(p.detach(), 1 - d)
        self.updates += 1

    @contextmanager
    def applied(self, model: nn.Module) -> Iterator[None]:
        """Inside the block `model` holds the averaged weights; the raw ones come back after it."""
        params = dict(model.named_parameters())
        raw = {name: p.detach().clone() for name, p in params.items()}
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(self.shadow[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(raw[name])

    def tensors(self) -> dict[str, Tensor]:
        """For checkpoints: the shadow weights and the update count."""
        return {**{PREFIX + k: v for k, v in self.shadow.items()}, PREFIX + "updates": torch.tensor(self.updates)}

    def load(self, tensors: dict[str, Tensor]) -> None:
        updates = tensors.get(PREFIX + "updates")
        shadow = {k[len(PREFIX) :]: v for k, v in tensors.items() if k.startswith(PREFIX) and k != PREFIX + "updates"}
        if updates is None or set(shadow) != set(self.shadow):
            raise ValueError("the checkpoint's EMA weights do not fit the model")
        for name, value in shadow.items():
            self.shadow[name].copy_(value)
        self.updates = int(updates)
