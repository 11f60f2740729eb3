"""Masked linear layers and the MADE connectivity rule (Germain et al. 2015, arXiv 1502.03509).

Every unit carries an integer degree. An input unit of dimension d has degree rank(d) + 1, where rank(d) is d's
position in the autoregressive order. A hidden unit of degree k may see inputs of degree ≤ k; an output unit of
dimension d sees hidden units of degree < rank(d) + 1, so output d depends only on dimensions earlier in the order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def hidden_degrees(dims: int, sizes: tuple[int, ...], generator: torch.Generator) -> list[Tensor]:
    """Random degrees for each hidden layer, each layer's degrees ≥ the previous layer's minimum.

    Args:
        dims: number of data dimensions D.
        sizes: hidden layer widths.
        generator: source of randomness (one seeded generator per mask).

    Returns:
        One long tensor (H_l,) of degrees in [1, D-1] per layer (all D when D = 1).
    """
    degrees, low = [], 1
    for size in sizes:
        high = max(dims - 1, low)
        layer = torch.randint(low, high + 1, (size,), generator=generator)
        degrees.append(layer)
        low = int(layer.min())
    return degrees


def hidden_mask(out_degrees: Tensor, in_degrees: Tensor) -> Tensor:
    """Bool mask (out, in) letting a unit see units of degree ≤ its own (input→hidden, hidden→hidden)."""
    return out_degrees[:, None] >= in_degrees[None, :]


def output_mask(out_degrees: Tensor, in_degrees: Tensor) -> Tensor:
    """Bool mask (out, in) letting an output see only units of strictly smaller degree."""
    return out_degrees[:, None] > in_degrees[None, :]


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a 0/1 mask given at call time; the weight itself is left
    untouched, so several masks can share one set of weights (MADE's connectivity-agnostic training)."""

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:  # type: ignore[override]
        return F.linear(x, self.weight * mask, self.bias)  # a bool mask promotes to the weight's dtype
