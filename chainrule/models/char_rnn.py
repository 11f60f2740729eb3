"""Char-RNN (Karpathy 2015, "The Unreasonable Effectiveness of Recurrent Neural Networks"; code char-rnn):
embedding → multi-layer LSTM or GRU (dropout between layers) → a K-way softmax over the next byte or character.

Training uses truncated back-propagation through time with carried state: the trainer hands consecutive chunks of
B parallel streams (`carries_state`), and each chunk starts from the detached final state of the previous one and
from its last token. Document scoring carries the state across chunks the same way, so a long text scores exactly
as one pass over it; generation carries the state one token at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, lstm_layer, masked_network
from chainrule.models.sequence import SequenceModel, check_sequence_config


@dataclass(frozen=True)
class CharRNNConfig:
    """Char-RNN hyper-parameters.

    Attributes:
        shape, levels: (T,) chunk length and vocabulary size K.
        vocab: the text vocabulary ("" = bytes when K = 256, else the characters in id order).
        cell: "lstm" or "gru".
        embedding, hidden, layers, dropout: sizes and the dropout between layers and before the output.
    """

    shape: tuple[int, ...]
    levels: int
    vocab: str = ""
    cell: str = "lstm"
    embedding: int = 64
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_sequence_config(self)
        if self.cell not in ("lstm", "gru"):
            raise ConfigError(f"cell={self.cell!r}; choose lstm or gru")
        if min(self.embedding, self.hidden, self.layers) < 1 or not 0 <= self.dropout < 1:
            raise ConfigError("embedding, hidden and layers must be ≥ 1 and dropout in [0, 1)")

    def footprint(self) -> Footprint:
        gates = 4 if self.cell == "lstm" else 3
        rnn = lstm_layer(self.embedding, self.hidden, gates) + (self.layers - 1) * lstm_layer(
            self.hidden, self.hidden, gates
        )
        weights = embedding(self.levels + 1, self.embedding) + rnn + conv(self.hidden, self.levels)
        return masked_network(weights, modules=8)


@register(
    "char-rnn",
    config=CharRNNConfig,
    kind="sequence",
    tiny=dict(embedding=4, hidden=8, layers=2),
    presets={
        # tuned for 20 minutes on 2 CPU cores (BENCHMARKS.md, "Text recipe"): a 256-unit LSTM takes 4x the tokens
        # per second of a 512-unit one, which pays more than the width in that budget
        "cpu": dict(
            embedding=64,
            hidden=256,
            layers=2,
            dropout=0.1,
            train=dict(batch_size=32, lr=2e-3, warmup_steps=100, final_lr_fraction=0.1, betas=(0.9, 0.99)),
            data=dict(length=128),
        ),
        "paper": dict(embedding=128, hidden=512, layers=3, dropout=0.5, train=dict(batch_size=50, lr=2e-3)),
    },
)
class CharRNN(SequenceModel):
    """long (B, T) → logits (B, T, K)."""

    carries_state = True

    def __init__(self, config: CharRNNConfig) -> None:
        super().__init__(config)
        rnn = nn.LSTM if config.cell == "lstm" else nn.GRU
        self.embed = nn.Embedding(self.levels + 1, config.embedding)
        self.rnn = rnn(config.embedding, config.hidden, config.layers, batch_first=True, dropout=config.dropout)
        self.drop = nn.Dropout(config.dropout)
        self.output = nn.Linear(config.hidden, self.levels)
        self.carried: tuple[Any, Tensor] | None = None  # (state, last token) between training chunks

    def run(self, inputs: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Input ids (B, T) [+ state] → logits (B, T, K) and the final state."""
        out, state = self.rnn(self.embed(inputs), state)
        return self.output(self.drop(out)), state

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.run(self.shifted(x))[0]

    # --- truncated BPTT with carried state ----------------------------------------------------------------

    def reset_carry(self) -> None:
        """Forget the carried training state (the trainer calls this at every epoch start)."""
        self.carried = None

    def training_log_prob(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        inputs, state = self.shifted(x), None
        if self.carried is not None and self.carried[1].shape[0] == x.shape[0]:
            state, last = self.carried
            inputs = torch.cat([last[:, None], x[:, :-1]], dim=1)
        logits, state = self.run(inputs, state)
        detached = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        self.carried = (detached, x[:, -1])
        return self.head.log_prob(logits, x).sum(1)

    # --- documents and generation -------------------------------------------------------------------------

    @torch.inference_mode()
    def stream_log_probs(self, tokens: Tensor, batch_size: int = 64) -> Tensor:
        """One pass over the document in chunks of T, the state carried between chunks: (N,)."""
        device = next(self.parameters()).device
        tokens = tokens.to(device)
        inputs = torch.cat([tokens.new_full((1,), self.start), tokens[:-1]])
        out, state = [], None
        for a in range(0, len(tokens), self.length):
            logits, state = self.run(inputs[None, a : a + self.length], state)
            out.append(torch.log_softmax(logits[0].float(), -1).gather(1, tokens[a : a + self.length, None])[:, 0])
        return torch.cat(out)

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        return {"n": n, "state": None}

    def reorder_cache(self, cache: dict[str, Any], index: Tensor) -> dict[str, Any]:
        state = cache["state"]  # (layers, n, hidden), or a tuple of two for the LSTM
        if state is not None:
            cache["state"] = tuple(s[:, index] for s in state) if isinstance(state, tuple) else state[:, index]
        return cache

    def cache_step(self, cache: dict[str, Any], previous: Tensor | None) -> Tensor:
        device = next(self.parameters()).device
        token = torch.full((cache["n"],), self.start, device=device) if previous is None else previous.to(device)
        logits, cache["state"] = self.run(token[:, None], cache["state"])
        return F.log_softmax(logits[:, 0].float(), dim=-1)
