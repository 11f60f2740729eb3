"""Causal multi-head self-attention over a raster-ordered image (PixelSNAIL, Chen et al. 2018, arXiv 1712.09763).

Position t (a pixel in raster order) attends to every position s < t, strictly: the keys and values of a
PixelSNAIL block read the pixel itself, so t must not see its own. This is implemented as ordinary causal
attention (s ≤ t) over keys and values shifted one step later, with a learned start key/value in front; the start
entry also gives the first pixel something to attend to. Uses PyTorch's scaled_dot_product_attention.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.raster_step import SHARED, Pointwise


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal scaled dot-product attention of (B, heads, L, E) queries and keys and (B, heads, L, Ev) values.

    PyTorch's memory-efficient (flash) kernels need E == Ev and contiguous rows; otherwise it falls back to a path
    that holds every (L, L) score matrix, ~0.9 GB per example over the 5,120 codes of a code video (a PixelSNAIL
    prior's batch of 32 was killed at 24 GB). Zero-padding the narrower side keeps every score and output exact
    (the scale is still 1/√E) and keeps the fast path: at L = 5,121, 17x faster and 10x less memory on CPU
    (forward and backward).
    """
    width, value_width = q.shape[-1], v.shape[-1]
    scale = width**-0.5
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()  # the fast kernels also need unit-stride rows
    if width < value_width:
        q, k = F.pad(q, (0, value_width - width)), F.pad(k, (0, value_width - width))
    elif value_width < width:
        return F.scaled_dot_product_attention(q, k, F.pad(v, (0, width - value_width)), is_causal=True, scale=scale)[
            ..., :value_width
        ]
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)


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
        out = causal_attention(self.split_heads(q), self.split_heads(k), self.split_heads(v))
        return out.transpose(2, 3).reshape(b, -1, h, w)

    # --- one query at a time (generation): keys and values appended as their positions complete --------------

    def init_step(self, n: int, length: int) -> AttentionState:
        """State for n images of `length` positions: the start entry in place. The query matrix carries the
        1/√d scaling; keys are kept transposed, so that a step is two batched matrix products."""
        kv = self.key_value.weight
        heads, key_width = self.heads, self.key_channels // self.heads
        query = Pointwise.of(self.query)
        scale = key_width**-0.5
        query = Pointwise(query.weight * scale, None if query.bias is None else query.bias * scale)
        keys = kv.new_zeros(n, heads, key_width, length + 1)
        values = kv.new_zeros(n, heads, length + 1, (kv.shape[0] - self.key_channels) // heads)
        state = AttentionState(query, Pointwise.of(self.key_value), keys, values, 0)
        self.append(state, None)
        return state

    def append(self, state: AttentionState, source: Tensor | None) -> None:
        """Add the keys and values of the next position from its source (n, Ckv); None: the learned start entry."""
        n = state.keys.shape[0]
        kv = self.start.detach().expand(n, -1) if source is None else state.key_value(source)
        state.keys[:, :, :, state.count] = kv[:, : self.key_channels].view(n, self.heads, -1)
        state.values[:, :, state.count] = kv[:, self.key_channels :].view(n, self.heads, -1)
        state.count += 1

    def step(self, state: AttentionState, query: Tensor) -> Tensor:
        """The output at the next position, reading every entry appended so far: (n, Cq) → (n, value_channels)."""
        n, count = query.shape[0], state.count
        q = state.query(query).view(n * self.heads, 1, -1)
        keys = state.keys[:, :, :, :count].flatten(0, 1)  # (n·heads, d, count)
        weights = torch.softmax(torch.bmm(q, keys), dim=-1)
        return torch.bmm(weights, state.values[:, :, :count].flatten(0, 1)).view(n, -1)


@dataclass
class AttentionState:
    query: Pointwise = field(metadata=SHARED)
    key_value: Pointwise = field(metadata=SHARED)
    keys: Tensor  # (n, heads, key_channels / heads, length + 1): transposed
    values: Tensor  # (n, heads, length + 1, value_channels / heads)
    count: int  # entries appended (the start entry first)
