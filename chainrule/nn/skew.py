"""Skewing of a feature map for the Diagonal LSTM (arXiv 1601.06759, section 3.2): row i is shifted i columns to
the right, so that each diagonal of the image becomes a column and can be computed in one step.

Both directions are a pad and a reshape (no per-row copies), so their backward passes cost one copy too: a row
grows by one column per row when the padded map is re-read with rows one shorter (or longer).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def skew(x: Tensor) -> Tensor:
    """(B, C, H, W) → (B, C, H, W + H - 1); row i occupies columns i .. i + W - 1, zeros elsewhere."""
    b, c, h, w = x.shape
    flat = F.pad(x, (0, h)).reshape(b, c, h * (w + h))  # rows of W + H
    return flat[:, :, : h * (w + h - 1)].reshape(b, c, h, w + h - 1)


def unskew(x: Tensor, width: int) -> Tensor:
    """Inverse of `skew`: (B, C, H, W + H - 1) → (B, C, H, W)."""
    b, c, h, skewed = x.shape
    flat = F.pad(x.reshape(b, c, h * skewed), (0, h))  # rows of W + H again
    return flat.reshape(b, c, h, skewed + 1)[:, :, :, :width]
