"""Masked 2-D convolutions of PixelCNN (van den Oord et al. 2016, arXiv 1601.06759, section 3.4).

Raster order with colour channels ordered R → G → B inside a pixel. Feature channels are split into as many groups
as the data has channels; group g carries what may depend on data channels ≤ g (type B) or < g (type A) at the
current pixel. A kernel tap above the centre row, or left of the centre in the centre row, sees every group; the
centre tap connects input group gi to output group go only if gi < go (type A) or gi ≤ go (type B); taps right of
the centre or below are zero.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.raster_step import Pointwise, PositionStepping

MaskType = Literal["A", "B"]


def channel_groups(channels: int, groups: int, chunks: int = 1) -> Tensor:
    """Group id of each of `channels` feature channels: `chunks` equal chunks (e.g. the two halves of a gated
    unit, the four LSTM gates), each split into `groups` contiguous blocks. long (channels,)."""
    if channels % (chunks * groups):
        raise ValueError(f"{channels} channels cannot be split into {chunks} chunks of {groups} groups")
    per_chunk = channels // chunks
    return (torch.arange(per_chunk) * groups // per_chunk).repeat(chunks)


def centre_mask(out_groups: Tensor, in_groups: Tensor, mask_type: MaskType) -> Tensor:
    """Which input channels an output channel may see at the centre tap: float (out, in)."""
    if mask_type == "A":
        return (in_groups[None, :] < out_groups[:, None]).float()
    return (in_groups[None, :] <= out_groups[:, None]).float()


def conv_mask(kernel: tuple[int, int], out_groups: Tensor, in_groups: Tensor, mask_type: MaskType) -> Tensor:
    """The full mask (out, in, kh, kw) of a raster-order masked convolution with an odd-sized kernel."""
    kh, kw = kernel
    mask = torch.zeros(len(out_groups), len(in_groups), kh, kw)
    mask[:, :, : kh // 2, :] = 1  # rows above
    mask[:, :, kh // 2, : kw // 2] = 1  # left in the centre row
    mask[:, :, kh // 2, kw // 2] = centre_mask(out_groups, in_groups, mask_type)
    return mask


class MaskedConv2d(PositionStepping, nn.Conv2d):
    """A same-size 2-D convolution whose weight is multiplied by a fixed causal mask at each call.

    Args:
        in_channels, out_channels: feature channels.
        kernel: odd kernel size (kh, kw) or k.
        mask_type: "A" (the first layer: the current data channel is hidden) or "B" (later layers).
        data_channels: colour channels of the data (1 for grey, 3 for RGB).
        in_chunks, out_chunks: chunking of the channel groups (see `channel_groups`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int | tuple[int, int],
        mask_type: MaskType,
        data_channels: int = 1,
        in_chunks: int = 1,
        out_chunks: int = 1,
        bias: bool = True,
    ) -> None:
        kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
        if kh % 2 == 0 or kw % 2 == 0:
            raise ValueError(f"masked convolutions need odd kernel sizes, got {(kh, kw)}")
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2), bias=bias)
        out_groups = channel_groups(out_channels, data_channels, out_chunks)
        in_groups = channel_groups(in_channels, data_channels, in_chunks)
        self.register_buffer("mask", conv_mask((kh, kw), out_groups, in_groups, mask_type), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def step_geometry(self) -> tuple[Tensor, int, int]:
        kh, kw = self.kernel_size
        return self.weight * self.mask, kh // 2, kw // 2

    def as_pointwise(self) -> Pointwise:
        """A 1x1 masked convolution as its (masked) matrix, for one-position steps."""
        if self.kernel_size != (1, 1):
            raise ValueError(f"a {self.kernel_size} convolution is not pointwise")
        return Pointwise.of(self, (self.weight * self.mask).detach())
