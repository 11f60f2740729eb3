"""Skewing of a feature map for the Diagonal LSTM (arXiv 1601.06759, section 3.2): row i is shifted i columns to
the right, so that each diagonal of the image becomes a column and can be computed in one step."""

from __future__ import annotations

import torch
from torch import Tensor


def skew(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, C, H, W + H - 1); row i occupies columns i .. i + W - 1, zeros elsewhere."""
    b, c, h, w = x.shape
    out = x.new_zeros(b, c, h, w + h - 1)
    for i in range(h):
        out[:, :, i, i : i + w] = x[:, :, i]
    return out


def unskew(x: Tensor, width: int) -> Tensor:
    """Inverse of `skew`: (B, C, H, W + H - 1) → (B, C, H, W)."""
    return torch.stack([x[:, :, i, i : i + width] for i in range(x.shape[2])], dim=2)
