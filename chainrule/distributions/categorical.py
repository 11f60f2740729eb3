"""Categorical head over K levels: K logits per dimension (the 256-way softmax of PixelCNN and WaveNet)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from chainrule.distributions.base import LikelihoodHead, sample_from_log_probs


class Categorical(LikelihoodHead):
    """params (B, *shape, K) are unnormalised logits; log_softmax keeps the edge levels exact."""

    def __init__(self, levels: int) -> None:
        self.levels = levels

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape, self.levels)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return -F.cross_entropy(params.float().movedim(-1, 1), x, reduction="none")

    def log_probs_at(self, params: Tensor, x: Tensor, index: tuple[int, ...]) -> Tensor:
        return torch.log_softmax(params[(slice(None), *index)].float(), dim=-1)

    def sample(self, params: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return sample_from_log_probs(torch.log_softmax(params.float(), dim=-1), temperature, generator)
