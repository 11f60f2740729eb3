"""What a conditional model is given besides its data: any of class ids, a vector and a spatial map, together.

A plain tensor still works where only one is given (long (B,) class ids, float (B, D) vectors); a `Condition` holds
any mix, e.g. the bottom prior of a VQ-VAE-2 gets the top codes as its map and may also take a class. The map is
seen at every position (it is given, not generated); the data stays causal.

A `Condition` indexes, repeats and moves like the tensors it holds (rows first), so the sampler, completion and
the coder pass it along as they pass a tensor.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor


@dataclass(frozen=True)
class Condition:
    """classes: long (B,); vector: float (B, D); map: (B, M, h, w), long codes or float values. Any may be None."""

    classes: Tensor | None = None
    vector: Tensor | None = None
    map: Tensor | None = None

    @classmethod
    def of(cls, cond: Tensor | Condition | None) -> Condition | None:
        """A plain tensor as a Condition (class ids if integer, else a vector); a Condition or None as it is."""
        if cond is None or isinstance(cond, Condition):
            return cond
        if isinstance(cond, Tensor) and not cond.dtype.is_floating_point:
            return cls(classes=cond)
        return cls(vector=cond)

    def parts(self) -> dict[str, Tensor]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def __len__(self) -> int:
        parts = list(self.parts().values())
        return len(parts[0]) if parts else 0

    def _apply(self, fn) -> Condition:
        return Condition(**{name: fn(value) for name, value in self.parts().items()})

    def __getitem__(self, index) -> Condition:
        return self._apply(lambda t: t[index])

    def repeat_interleave(self, repeats: int, dim: int = 0) -> Condition:
        return self._apply(lambda t: t.repeat_interleave(repeats, dim=dim))

    def to(self, device: torch.device | str) -> Condition:
        return self._apply(lambda t: t.to(device))
