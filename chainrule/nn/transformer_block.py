"""Pre-norm causal transformer block (GPT-2 style) with optional rotary positions and a key/value cache.

    x = x + Attention(LN(x));  x = x + MLP(LN(x))

Attention is PyTorch's scaled_dot_product_attention, causal. With a cache (a dict holding buffers "k", "v" of shape
(B, heads, capacity, d), the first "filled" positions written) the block takes only the new positions and attends
to the cached ones as well.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def rotary_tables(positions: Tensor, dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """Tables (L, dim) of rotary position embeddings (Su et al. 2021, arXiv 2104.09864) for `rotate`: the cosines
    of each pair's angle twice, and its sines with the sign of the first half flipped (pairs = the two halves)."""
    freqs = base ** (-torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32) / dim)
    angles = positions.float()[:, None] * freqs[None, :]
    cos, sin = angles.cos(), angles.sin()
    return torch.cat([cos, cos], dim=-1), torch.cat([-sin, sin], dim=-1)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Apply rotary embeddings to (..., L, d) given `rotary_tables` (L, d): each pair (a, b) of the two halves
    becomes (a cos - b sin, b cos + a sin), in four kernels."""
    a, b = x.chunk(2, dim=-1)
    return (x * cos + torch.cat([b, a], dim=-1) * sin).to(x.dtype)


def remember(cache: dict, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """Append new keys and values (B, heads, L, d) to the cache's buffers, which are allocated once (for
    `cache["capacity"]` positions, doubled if ever exceeded) instead of concatenated on every step; return the keys
    and values of every position so far."""
    start = cache.get("filled", 0)
    end = start + k.shape[2]
    if "k" not in cache or cache["k"].shape[2] < end:
        size = max(end, cache.get("capacity", 0), 2 * cache["k"].shape[2] if "k" in cache else 0)
        for name, new in (("k", k), ("v", v)):
            buffer = new.new_empty(*new.shape[:2], size, new.shape[3])
            if start:
                buffer[:, :, :start] = cache[name][:, :, :start]
            cache[name] = buffer
    cache["k"][:, :, start:end], cache["v"][:, :, start:end] = k, v
    cache["filled"] = end
    return cache["k"][:, :, :end], cache["v"][:, :, :end]


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float = 0.0, rotary: bool = False) -> None:
        super().__init__()
        self.heads, self.rotary, self.dropout = heads, rotary, dropout
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(
        self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None, cache: dict[str, Tensor] | None = None
    ) -> Tensor:
        """x (B, L, width) → (B, L, width). With rotary positions, `rope` holds the (cos, sin) tables of the L
        positions (`rotary_tables`; computed once per pass by the caller and shared by every block)."""
        b, length, width = x.shape
        q, k, v = (
            t.reshape(b, length, self.heads, width // self.heads).transpose(1, 2) for t in self.qkv(x).chunk(3, -1)
        )
        if self.rotary:
            if rope is None:
                raise ValueError("rotary attention needs the (cos, sin) tables of its positions")
            q, k = rotate(q, *rope), rotate(k, *rope)
        causal = True
        if cache is not None:
            past = cache.get("filled", 0)
            k, v = remember(cache, k, v)
            causal = length > 1  # one new position attends to everything cached
            if causal and past:  # several new positions after a cached prefix: an explicit mask
                mask = torch.ones(length, k.shape[2], dtype=torch.bool, device=x.device).tril(past)
        if cache is not None and causal and k.shape[2] != length:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            p = self.dropout if self.training else 0.0
            out = F.scaled_dot_product_attention(q, k, v, is_causal=causal, dropout_p=p)
        return self.proj(out.transpose(1, 2).reshape(b, length, width))

    def step(self, x: Tensor, position: int, cache: dict) -> Tensor:
        """One new position after the cached ones, x (B, width) → (B, width); the same as `forward` on a
        length-1 input, with 2-D tensors and attention for a single query written out (a few small products
        instead of the general kernel's set-up, which dominates at this size)."""
        b, width = x.shape
        q, k, v = F.linear(x, self.qkv.weight, self.qkv.bias).view(b, 3, self.heads, width // self.heads).unbind(1)
        if self.rotary:
            cos, sin = rotary_tables(torch.tensor([position], device=x.device), width // self.heads)
            q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        keys, values = remember(cache, k[:, :, None], v[:, :, None])  # (B, heads, S, d)
        scores = torch.matmul(keys, q[..., None]).squeeze(-1) * (q.shape[-1] ** -0.5)  # (B, heads, S)
        out = torch.matmul(scores.softmax(dim=-1)[:, :, None], values)  # (B, heads, 1, d)
        return F.linear(out.reshape(b, width), self.proj.weight, self.proj.bias)


class TransformerBlock(nn.Module):
    def __init__(self, width: int, heads: int, dropout: float = 0.0, rotary: bool = False) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads, dropout, rotary)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: Tensor, rope: tuple[Tensor, Tensor] | None = None, cache: dict[str, Tensor] | None = None
    ) -> Tensor:
        x = x + self.drop(self.attention(self.norm1(x), rope, cache))
        return x + self.drop(self.mlp(self.norm2(x)))

    def step(self, x: Tensor, position: int, cache: dict) -> Tensor:
        """`forward` for one new position (B, width) after the cached ones (evaluation: no dropout)."""
        n1, n2, (fc1, _, fc2) = self.norm1, self.norm2, self.mlp
        x = x + self.attention.step(F.layer_norm(x, n1.normalized_shape, n1.weight, n1.bias, n1.eps), position, cache)
        h = F.layer_norm(x, n2.normalized_shape, n2.weight, n2.bias, n2.eps)
        return x + F.linear(F.gelu(F.linear(h, fc1.weight, fc1.bias)), fc2.weight, fc2.bias)
