"""A GPT-style causal transformer over tokens (Radford et al. 2018/2019; nanoGPT's layout): token embedding
(+ learned positions, or rotary positions in attention), pre-norm blocks of causal multi-head self-attention and
an MLP, a final LayerNorm and a linear map to K logits.

Generation keeps a key/value cache: each new token costs one position's work instead of a pass over the whole
prefix. Past the context length T, the cache is rebuilt from the start token and the last T/2 tokens, the same
view of the past that document scoring uses (a sliding window with stride T/2: every scored token but those of
the first window sees at least T/2 - 1 earlier tokens).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.errors import ConfigError
from chainrule.models.base import index_rows, register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.sequence import SequenceModel, check_sequence_config
from chainrule.nn.transformer_block import TransformerBlock, rotary_tables


@dataclass(frozen=True)
class TransformerConfig:
    """Transformer hyper-parameters.

    Attributes:
        shape, levels: (T,) context length (T ≥ 3) and vocabulary size K.
        vocab: the text vocabulary ("" = bytes when K = 256, else the characters in id order).
        width, layers, heads: model width, blocks, attention heads (width divisible by heads).
        positions: "learned" (absolute embeddings) or "rotary".
        dropout: on attention weights, residual branches and embeddings.
    """

    shape: tuple[int, ...]
    levels: int
    vocab: str = ""
    width: int = 384
    layers: int = 6
    heads: int = 6
    positions: str = "learned"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_sequence_config(self)
        if self.shape[0] < 3:
            # past the context the cache restarts from the last T/2 - 1 tokens: T < 3 would leave an empty window
            raise ConfigError(f"shape=({self.shape[0]},): the transformer's context length must be at least 3")
        if self.width < 1 or self.layers < 1 or self.heads < 1 or self.width % self.heads:
            raise ConfigError(f"width={self.width} must be a positive multiple of heads={self.heads}; layers ≥ 1")
        if self.positions not in ("learned", "rotary"):
            raise ConfigError(f"positions={self.positions!r}; choose learned or rotary")
        if self.positions == "rotary" and (self.width // self.heads) % 2:
            raise ConfigError("rotary positions need an even head width")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")

    def footprint(self) -> Footprint:
        w = self.width
        block = 4 * w + conv(w, 3 * w) + conv(w, w) + conv(w, 4 * w) + conv(4 * w, w)
        positions = embedding(self.shape[0], w) if self.positions == "learned" else 0
        weights = embedding(self.levels + 1, w) + positions + self.layers * block + 2 * w + conv(w, self.levels)
        return masked_network(weights, modules=8 + 12 * self.layers)


@register(
    "transformer",
    config=TransformerConfig,
    kind="sequence",
    tiny=dict(width=8, layers=2, heads=2),
    presets={
        # tuned for 20 minutes on 2 CPU cores (BENCHMARKS.md, "Text recipe"): short windows at random offsets and
        # small batches, for many steps
        "cpu": dict(
            width=128,
            layers=4,
            heads=4,
            dropout=0.0,
            train=dict(
                batch_size=12,
                lr=2e-3,
                warmup_steps=100,
                final_lr_fraction=0.1,
                weight_decay=0.1,
                betas=(0.9, 0.99),
            ),
            data=dict(length=64),
        ),
        "paper": dict(width=384, layers=6, heads=6, dropout=0.2, train=dict(batch_size=64, lr=1e-3)),
    },
)
class Transformer(SequenceModel):
    """long (B, T) → logits (B, T, K)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__(config)
        rotary = config.positions == "rotary"
        self.embed = nn.Embedding(self.levels + 1, config.width)
        self.position = None if rotary else nn.Embedding(self.length, config.width)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(config.width, config.heads, config.dropout, rotary) for _ in range(config.layers)
        )
        self.norm = nn.LayerNorm(config.width)
        self.output = nn.Linear(config.width, self.levels)

    def run(self, inputs: Tensor, offset: int = 0, caches: list[dict] | None = None) -> Tensor:
        """Input ids (B, L) at positions offset .. offset + L - 1 [+ per-block caches] → logits (B, L, K)."""
        positions = torch.arange(offset, offset + inputs.shape[1], device=inputs.device)
        h, rope = self.embed(inputs), None
        if self.position is not None:
            h = h + self.position(positions)
        else:  # rotary: the tables once per pass, shared by every block
            rope = rotary_tables(positions, self.config.width // self.config.heads)
        h = self.drop(h)
        for i, block in enumerate(self.blocks):
            h = block(h, rope, None if caches is None else caches[i])
        return self.output(self.norm(h))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.run(self.shifted(x))

    # --- documents ----------------------------------------------------------------------------------------

    @property
    def stride(self) -> int:
        """New tokens scored per window after the first (each sees ≥ T - stride - 1 earlier tokens)."""
        return max(1, self.length // 2)

    @torch.inference_mode()
    def stream_log_probs(self, tokens: Tensor, batch_size: int = 64, context: int | None = None) -> Tensor:
        """Sliding windows of T tokens with stride T/2; each token scored once, in the window where it has the most
        context (the first window scores all of its tokens): (N,). `context` scores with windows of that many
        tokens instead of T (stride context/2); longer than T only with rotary positions, which extend to any
        length (whether the model generalises there is for the caller to measure)."""
        length = context or self.length
        if length < 3 or (length > self.length and self.position is not None):
            raise ConfigError(
                f"context={length}: scoring windows need 3 to {self.length} tokens with learned positions "
                "(longer ones need positions=rotary)"
            )
        device = next(self.parameters()).device
        tokens = tokens.to(device)
        n, stride = len(tokens), max(1, length // 2)
        ends = [min(n, length)]
        while ends[-1] < n:
            ends.append(min(n, ends[-1] + stride))
        out = torch.empty(n, device=device)
        for i in range(0, len(ends), batch_size):
            chunk = ends[i : i + batch_size]
            windows = torch.stack([tokens[max(0, e - length) : e] for e in chunk]) if n >= length else tokens[None]
            log_probs = torch.log_softmax(self.forward(windows).float(), -1).gather(2, windows[..., None])[..., 0]
            for j, e in enumerate(chunk):
                first = ends[i + j - 1] if i + j else 0
                out[first:e] = log_probs[j, windows.shape[1] - (e - first) :]
        return out

    # --- generation ---------------------------------------------------------------------------------------

    def window_start(self, consumed: int, start: int) -> int:
        """Past the context (start token + tokens ≥ T), restart the window at the last T/2 - 1 tokens."""
        if 1 + consumed - start > self.length:
            return consumed - (self.length - self.stride - 1)
        return start

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        blocks = [{"capacity": self.length} for _ in self.blocks]  # key/value buffers, allocated on first use
        return {"n": n, "history": [], "blocks": blocks, "filled": 0, "start": 0}

    def reorder_cache(self, cache: dict[str, Any], index: Tensor) -> dict[str, Any]:
        """Keys/values (n, heads, capacity, d) and the token history (n,) each: rows first."""
        return index_rows(cache, index, cache["n"])

    def cache_step(self, cache: dict[str, Any], previous: Tensor | None) -> Tensor:
        device = next(self.parameters()).device
        if previous is None:
            token = torch.full((cache["n"],), self.start, device=device)
        else:
            token = previous.to(device)
            cache["history"].append(token)
        start = self.window_start(len(cache["history"]), cache["start"])
        if start != cache["start"]:  # the window moved: rebuild the cache from the start token and its tokens
            kept = torch.stack(cache["history"][start:], dim=1)
            inputs = torch.cat([kept.new_full((cache["n"], 1), self.start), kept], dim=1)
            for block in cache["blocks"]:
                block["filled"] = 0  # the buffers are kept and overwritten
            cache.update(start=start, filled=inputs.shape[1])
            logits = self.run(inputs, 0, cache["blocks"])
            return F.log_softmax(logits[:, -1].float(), dim=-1)
        position, h = cache["filled"], self.embed(token)
        if self.position is not None:
            h = h + self.position.weight[position]
        for block, block_cache in zip(self.blocks, cache["blocks"], strict=True):
            h = block.step(h, position, block_cache)
        cache["filled"] = position + 1
        return F.log_softmax(self.output(self.norm(h)).float(), dim=-1)
