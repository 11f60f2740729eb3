"""Gated activation units: tanh(a) ⊙ σ(b) over the two halves of the channel axis (arXiv 1606.05328, eq. 2;
also WaveNet's gated units, arXiv 1609.03499)."""

from __future__ import annotations

import torch
from torch import Tensor


def gate(x: Tensor, dim: int = 1) -> Tensor:
    """Split `x` into halves (a, b) along `dim` and return tanh(a) * sigmoid(b)."""
    a, b = x.chunk(2, dim=dim)
    return torch.tanh(a) * torch.sigmoid(b)
