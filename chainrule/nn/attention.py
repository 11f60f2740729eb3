"""Causal multi-head self-attention over a raster-ordered image (PixelSNAIL, Chen et al. 2018, arXiv 1712.09763).

Position t (a pixel in raster order) attends to every position s < t, strictly: the keys and values of a
PixelSNAIL block read the pixel itself, so t must not see its own. This is implemented as ordinary causal
attention (s ≤ t) over keys and values shifted one step later, with a learned start key/value in front; the start
entry also gives the first pixel something to attend to. Uses PyTorch's scaled_dot_product_attention.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalImageAttention(nn.Module):
    """queries (B, Cq, H, W), keys/values source (B, Ckv, H, W) → (B, value_channels, H, W).

    Args:
        query_channels, source_channels: Cq and Ckv.
        key_channels, value_channels: total widths over all heads (each divisible by `heads`).
        heads: attention heads.
    """

    def __init__(
        self, query_channels: int, source_channels: int, key_channels: int, value_channels: int, heads: int = 1
    ) -> None:
        super().__init__()
        if key_channels % heads or value_channels % heads:
            raise ValueError(f"key ({key_channels}) and value ({value_channels}) widths must divide by {heads} heads")
        self.heads = heads
        self.query = nn.Conv2d(query_channels, key_channels, 1)
        self.key_value = nn.Conv2d(source_channels, key_channels + value_channels, 1)
        self.start = nn.Parameter(torch.zeros(key_channels + value_channels))
        self.key_channels = key_channels

    def split_heads(self, x: Tensor) -> Tensor:
        """(B, C, L) → (B, heads, L, C / heads)."""
        b, c, length = x.shape
        return x.reshape(b, self.heads, c // self.heads, length).transpose(2, 3)

    def forward(self, queries: Tensor, source: Tensor) -> Tensor:
        b, _, h, w = queries.shape
        q = self.query(queries).flatten(2)
        kv = self.key_value(source).flatten(2)
        start = self.start.to(kv.dtype)[None, :, None].expand(b, -1, 1)
        kv = torch.cat([start, kv[:, :, :-1]], dim=2)  # position t now holds the source of t - 1
        k, v = kv.split([self.key_channels, kv.shape[1] - self.key_channels], dim=1)
        out = F.scaled_dot_product_attention(
            self.split_heads(q), self.split_heads(k), self.split_heads(v), is_causal=True
        )
        return out.transpose(2, 3).reshape(b, -1, h, w)
