"""The resolution-preserving encoder of Video Pixel Networks (Kalchbrenner et al. 2016, arXiv 1610.00527, section 4):
a stack of residual blocks over a whole frame, with dilated 3x3 convolutions so that a few blocks see the frame
widely, at full resolution (no pooling: a digit's position must survive to the decoder).

Two kinds of block:
- "relu": a bottleneck residual block, x + W_3 ReLU(W_2^dilated ReLU(W_1 x)) (ResNet's);
- "multiplicative": the paper's residual multiplicative block: 1x1 to half the width, two multiplicative units
  with dilated 3x3 convolutions, 1x1 back, plus the input. A multiplicative unit is
  MU(h) = g_1 ⊙ tanh(g_2 ⊙ h + g_3 ⊙ u), gates g = σ(W_g * h), u = tanh(W_u * h) (its eq. 9-11), the four maps
  one convolution here.
The encoder sees the whole frame: it reads completed frames only, so nothing inside it needs to be causal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLOCKS = ("relu", "multiplicative")


class MultiplicativeUnit(nn.Module):
    """(B, F, H, W) → (B, F, H, W): g_1 ⊙ tanh(g_2 ⊙ h + g_3 ⊙ u)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.maps = nn.Conv2d(channels, 4 * channels, 3, padding=dilation, dilation=dilation)

    def forward(self, h: Tensor) -> Tensor:
        g1, g2, g3, u = self.maps(h).chunk(4, dim=1)
        return torch.sigmoid(g1) * torch.tanh(torch.sigmoid(g2) * h + torch.sigmoid(g3) * torch.tanh(u))


class ResidualBlock(nn.Module):
    """One residual block of the encoder, (B, F, H, W) → (B, F, H, W)."""

    def __init__(self, channels: int, dilation: int, block: str = "relu") -> None:
        super().__init__()
        if block not in BLOCKS:
            raise ValueError(f"block={block!r}; choose one of {', '.join(BLOCKS)}")
        half = max(1, channels // 2)
        self.block = block
        self.reduce = nn.Conv2d(channels, half, 1)
        if block == "relu":
            self.inner: nn.Module = nn.Conv2d(half, half, 3, padding=dilation, dilation=dilation)
        else:
            self.inner = nn.Sequential(MultiplicativeUnit(half, dilation), MultiplicativeUnit(half, dilation))
        self.expand = nn.Conv2d(half, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        if self.block == "relu":
            return x + self.expand(F.relu(self.inner(F.relu(self.reduce(x)))))
        return x + self.expand(self.inner(self.reduce(x)))


class FrameEncoder(nn.Module):
    """A frame of C scaled channels (B, C, H, W) → features (B, F, H, W): a 3x3 convolution to F channels, then one
    residual block per dilation."""

    def __init__(self, in_channels: int, channels: int, dilations: tuple[int, ...], block: str = "relu") -> None:
        super().__init__()
        self.first = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.blocks = nn.Sequential(*(ResidualBlock(channels, d, block) for d in dilations))

    def forward(self, frame: Tensor) -> Tensor:
        return F.relu(self.blocks(self.first(frame)))


def frame_encoder_weights(in_channels: int, channels: int, dilations: tuple[int, ...], block: str) -> int:
    """The weights of `FrameEncoder(in_channels, channels, dilations, block)` (for footprints)."""
    half = max(1, channels // 2)
    inner = half * half * 9 + half if block == "relu" else 2 * (half * 4 * half * 9 + 4 * half)
    per_block = (channels * half + half) + inner + (half * channels + channels)
    return in_channels * channels * 9 + channels + len(dilations) * per_block
