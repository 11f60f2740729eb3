"""What the sequence families (Char-RNN, the Transformer) share: (T,) token data over a vocabulary, a K-way softmax
per position, the start token, document-level scoring and the generation cache contract.

Inputs are shifted right behind a learned start token (id K), so position t's output predicts x_t from x_<t.

Generation cache (used by `sampling.cached`): `cache = init_cache(n, cond)`, then `cache_step(cache, previous)`
feeds the previous token (None at the start) and returns log p(next token | everything fed so far): (n, K).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from chainrule.data.kind import DataKind
from chainrule.data.vocabulary import Vocabulary
from chainrule.distributions import Categorical
from chainrule.errors import ConfigError
from chainrule.models.base import AutoregressiveModel, check_shape_levels


def check_sequence_config(config: Any) -> None:
    """Validate shape (T,), levels and the vocabulary every sequence config carries."""
    check_shape_levels(config.shape, config.levels)
    if len(config.shape) != 1:
        raise ConfigError(f"shape={tuple(config.shape)} must be (length,) for a sequence model")
    if config.vocab and len(config.vocab) != config.levels:
        raise ConfigError(f"the vocabulary has {len(config.vocab)} characters but levels={config.levels}")


class SequenceModel(AutoregressiveModel):
    """Base of the text families. Subclasses implement `forward`, `init_cache`, `cache_step` and
    `stream_log_probs`."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.head = Categorical(self.levels)
        self.start = self.levels  # id of the start token in the input embedding (K + 1 rows)

    @property
    def length(self) -> int:
        return self.shape[0]

    @property
    def data_kind(self) -> DataKind:
        """Text with the vocabulary saved with the model; plain values for a model of token ids without one."""
        vocab = self.config.vocab
        if (vocab == "" and self.levels == 256) or vocab:
            return DataKind.text(self.levels, vocab)
        return DataKind.values(self.levels)

    @property
    def vocabulary(self) -> Vocabulary:
        """The text vocabulary saved with the model.

        Raises:
            ConfigError: for a model of plain token ids (`data_kind` says which)."""
        return self.data_kind.vocabulary

    def shifted(self, x: Tensor) -> Tensor:
        """Inputs (B, T): the start token, then x_0 .. x_{T-2}."""
        return torch.cat([torch.full_like(x[:, :1], self.start), x[:, :-1]], dim=1)

    def window_start(self, consumed: int, start: int) -> int:
        """Generation: index of the first past token the model conditions on, once `consumed` tokens have been
        fed and the window began at `start`. Unbounded memory (recurrent models): always 0."""
        return start

    def stream_log_probs(self, tokens: Tensor, batch_size: int = 64) -> Tensor:  # pragma: no cover - abstract
        """log p(tokens[i] | what the model sees of tokens[:i]) for every token of one long document: (N,)."""
        raise NotImplementedError

    def init_cache(self, n: int, cond: Tensor | None = None) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def cache_step(self, cache: Any, previous: Tensor | None) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError
