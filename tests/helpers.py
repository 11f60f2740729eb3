"""Shared test helpers: enumeration of tiny data spaces and a chi-square goodness-of-fit check."""

from __future__ import annotations

import itertools
import math

import torch
from scipy import stats


def enumerate_space(shape: tuple[int, ...], levels: int) -> torch.Tensor:
    """Every x of `shape` with values in [0, levels): long (levels^D, *shape)."""
    dims = math.prod(shape)
    return torch.tensor(list(itertools.product(range(levels), repeat=dims))).reshape(-1, *shape)


def chi_square_pvalue(samples: torch.Tensor, probs: torch.Tensor) -> float:
    """p-value of observed category counts (samples: long (N,) in [0, len(probs))) against probs, with
    categories of tiny expectation pooled."""
    n = len(samples)
    counts = torch.bincount(samples, minlength=len(probs)).double()
    expected = probs.double() * n
    big = expected >= 5
    obs = torch.cat([counts[big], counts[~big].sum().reshape(1)])
    exp = torch.cat([expected[big], expected[~big].sum().reshape(1)])
    if exp[-1] < 1e-9:
        obs, exp = obs[:-1], exp[:-1]
    exp = exp * obs.sum() / exp.sum()
    return float(stats.chisquare(obs.numpy(), exp.numpy()).pvalue)
