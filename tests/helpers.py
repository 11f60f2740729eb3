"""Shared test helpers: enumeration of tiny data spaces, a chi-square goodness-of-fit check, and spreading a fresh
model's parameters so that weak paths still move its output."""

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


def spread_parameters(model: torch.nn.Module) -> None:
    """Move a fresh model's parameters far from zero, so that weak paths still move the output: double them, and
    fill the ones that start at zero (the conditioning tables) from N(0, 1)."""
    with torch.no_grad():
        for p in model.parameters():
            if p.any():
                p.mul_(2.0)
            else:
                p.normal_()
