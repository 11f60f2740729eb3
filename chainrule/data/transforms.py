"""Level transforms: re-quantization to fewer levels, fixed-threshold and dynamic binarization."""

from __future__ import annotations

import torch
from torch import Tensor

from chainrule.errors import ConfigError


def requantize(raw: Tensor, source_levels: int, levels: int) -> Tensor:
    """Map values in [0, source_levels) onto [0, levels) by equal-width bins: long tensor."""
    if levels > source_levels:
        raise ConfigError(f"levels={levels} exceeds the data's {source_levels} levels")
    raw = raw.long()
    return raw if levels == source_levels else raw * levels // source_levels


def threshold(raw: Tensor, source_levels: int) -> Tensor:
    """Fixed binarization: 1 where the value is in the upper half (x > 127 for 256 levels): long tensor."""
    return (raw.long() * 2 > source_levels - 1).long()


def dynamic_binarize(raw: Tensor, source_levels: int, generator: torch.Generator | None = None) -> Tensor:
    """Stochastic binarization: 1 with probability value / (source_levels - 1), drawn afresh each call."""
    probs = raw.float() / (source_levels - 1)
    return (torch.rand(probs.shape, generator=generator, device=raw.device) < probs).long()
