"""The network that reads a conditioning map (Gated PixelCNN's location-dependent conditioning h = m(s), van den
Oord et al. 2016, arXiv 1606.05328): a map of codes (embedded) or of values (B, M, h, w) → features
(B, channels, H, W) at the data's grid, by a residual 3x3 block at the map's resolution, a nearest-neighbour
upsampling by the integer factor H / h, and a 3x3 convolution there. It sees the whole map: the map is given, not
generated, so nothing about it needs to be causal."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class MapNetwork(nn.Module):
    """(B, M, h, w) → (B, channels, h · scale, w · scale)."""

    def __init__(self, inputs: int, levels: int, channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        # codes: one embedding of each code (one map channel); values: a 1x1 convolution of the M channels
        self.embed = nn.Embedding(levels, channels) if levels else None
        self.read = None if levels else nn.Conv2d(inputs, channels, 1)
        self.block = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.out = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, m: Tensor) -> Tensor:
        h = self.embed(m[:, 0].long()).permute(0, 3, 1, 2) if self.embed is not None else self.read(m.float())
        h = h + self.block(h)
        if self.scale > 1:
            h = F.interpolate(h, scale_factor=self.scale, mode="nearest")
        return self.out(F.relu(h))


def map_network_weights(inputs: int, levels: int, channels: int) -> int:
    """The weights of `MapNetwork(inputs, levels, channels, scale)` (for the families' footprints)."""
    first = levels * channels if levels else inputs * channels + channels
    return first + 3 * (channels * channels * 9 + channels)
