"""Bernoulli head for binary data: one logit per dimension."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from chainrule.distributions.base import LikelihoodHead, sample_from_log_probs


class Bernoulli(LikelihoodHead):
    """p(x=1) = sigmoid(logit); params (B, *shape, 1). Log-probabilities via logsigmoid, stable for any logit."""

    levels = 2

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*shape, 1)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        logit = params[..., 0].float()
        sign = 2.0 * x.to(logit.dtype) - 1.0  # x=1 → +logit, x=0 → -logit
        return F.logsigmoid(sign * logit)

    @staticmethod
    def soft_log_prob(params: Tensor, p: Tensor) -> Tensor:
        """p·log σ(l) + (1 − p)·log σ(−l) per dimension: the negative cross-entropy of target probabilities p (float
        (B, *shape) in [0, 1]) against the model's, the expected log-probability of a draw x ~ Bernoulli(p)."""
        logit = params[..., 0].float()
        return p * F.logsigmoid(logit) + (1.0 - p) * F.logsigmoid(-logit)

    @staticmethod
    def entropy(p: Tensor) -> Tensor:
        """The entropy in nats of Bernoulli(p), elementwise, in float64 (0 at p ∈ {0, 1}): the floor of the
        cross-entropy of target probabilities p against any model."""
        p = p.double()
        return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))

    def all_log_probs(self, params: Tensor) -> Tensor:
        logit = params[..., 0].float()
        return torch.stack([F.logsigmoid(-logit), F.logsigmoid(logit)], dim=-1)

    def log_probs_at(self, params: Tensor, x: Tensor, index: tuple[int, ...]) -> Tensor:
        return self.all_log_probs(params[(slice(None), *index)])

    def sample(self, params: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        return sample_from_log_probs(self.all_log_probs(params), temperature, generator)
