"""The likelihood-head interface shared by every model."""

from __future__ import annotations

import torch
from torch import Tensor


class LikelihoodHead:
    """Maps network parameters to conditional distributions over `levels` values per dimension.

    Layout: for data `x` of shape (B, *shape), `params` has shape (B, *param_shape(shape)); for per-dimension
    heads that is (B, *shape, P). A head may couple the dimensions of one position (PixelCNN++ colour channels);
    then its conditionals depend on the earlier values at that position, read from `x`.
    """

    levels: int

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of one example's parameters for data of `shape`."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        """log p(x_i | x_<i) per dimension: long x (B, *shape) → float (B, *shape)."""
        raise NotImplementedError

    def log_probs_at(self, params: Tensor, x: Tensor, index: tuple[int, ...]) -> Tensor:
        """Normalised log-probabilities of all `levels` values of dimension `index` (a multi-index into
        `shape`), given the earlier values in `x`: float (B, K)."""
        raise NotImplementedError

    def sample(self, params: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Draw every dimension that `params` covers (the within-position coupling respected): long (B, *shape)."""
        raise NotImplementedError


def sample_from_log_probs(
    log_probs: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Draw from normalised log-probabilities (..., K) at a temperature; returns long (...).

    By the inverse of the cumulative distribution (in float64), one uniform number per draw: the same law as
    `torch.multinomial` at half its cost for one row (a per-position sampler draws one row at a time). A value of
    probability 0 is never drawn: u lies in (0, total]."""
    logits = log_probs.float()
    if temperature != 1.0:
        logits = logits / temperature
    cdf = torch.softmax(logits, dim=-1).reshape(-1, logits.shape[-1]).double().cumsum_(-1)
    device = generator.device if generator is not None else cdf.device
    u = torch.rand(cdf.shape[0], 1, generator=generator, dtype=torch.float64, device=device).to(cdf.device)
    total = cdf[:, -1:]
    draws = torch.searchsorted(cdf, total - u * total)
    return draws.reshape(logits.shape[:-1])
