"""1x1 convolutions as batched matrix products.

On CPU, PyTorch's oneDNN path runs a 1x1 convolution 2-3x slower (forward + backward) than the same product written
as one `baddbmm` over the batch (BENCHMARKS.md, "Image models I"); 1x1 layers (the output heads, the residual
1x1s of PixelCNN, the vertical-to-horizontal link of Gated PixelCNN) take a large share of an image model's step.
Elsewhere (CUDA, channels-last tensors) the convolution itself is used.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pointwise_conv(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """F.conv2d(x, weight, bias) for a (C_out, C_in, 1, 1) weight: (B, C_in, H, W) → (B, C_out, H, W)."""
    n, c, h, w = x.shape
    if x.device.type != "cpu" or (not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)):
        return F.conv2d(x, weight, bias)
    out = weight.shape[0]
    matrix = weight.reshape(1, out, c).expand(n, out, c)
    columns = x.reshape(n, c, h * w)
    if bias is None:
        y = torch.bmm(matrix, columns)
    else:
        y = torch.baddbmm(bias.reshape(1, out, 1).expand(n, out, h * w), matrix, columns)
    return y.view(n, out, h, w)


class PointwiseConv2d(nn.Conv2d):
    """nn.Conv2d(in_channels, out_channels, 1) computed by `pointwise_conv` (same parameters and state dict)."""

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, 1, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return pointwise_conv(x, self.weight, self.bias)
