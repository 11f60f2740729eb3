"""A stack of residual blocks at one resolution (the VQ-VAE's encoder and decoder, van den Oord et al. 2017,
arXiv 1711.00937): each block adds conv1x1(ReLU(conv3x3(ReLU(x)))) to its input; a ReLU closes the stack."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class ResidualStack(nn.Module):
    """(B, channels, H, W) → (B, channels, H, W), `layers` blocks with `hidden` channels inside."""

    def __init__(self, channels: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(), nn.Conv2d(hidden, channels, 1)
            )
            for _ in range(layers)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = x + block(x)
        return torch.relu(x)
