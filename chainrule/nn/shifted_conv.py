"""Causal convolutions by padding and shifting: the two stacks of Gated PixelCNN (arXiv 1606.05328, Figure 2).

The vertical stack sees a k-wide window of the current row and the rows above it; it never reaches the output
directly, only through `down_shift` (one row down), so what it passes on depends on rows above only. The horizontal
stack sees the current row up to the current pixel; at the current pixel itself, the colour-group mask of
`masked_conv` applies (type A in the first layer, B after). Together they cover the whole causal context: no
blind spot.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.masked_conv import MaskType, centre_mask, channel_groups
from chainrule.nn.raster_step import Pointwise, PositionState, PositionStepping, RowState, RowStepping


def down_shift(x: Tensor) -> Tensor:
    """Move a (B, C, H, W) map one row down (zeros enter at the top)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


class VerticalConv(RowStepping, nn.Conv2d):
    """Output row i sees input rows i-k//2 .. i, columns j-k//2 .. j+k//2 (kernel (k//2 + 1, k))."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int) -> None:
        super().__init__(in_channels, out_channels, (kernel // 2 + 1, kernel))
        self.pad = (kernel // 2, kernel // 2, kernel // 2, 0)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))

    def row_geometry(self) -> tuple[int, int, int]:
        return self.pad[2], self.pad[0], self.pad[1]


class HorizontalConv(PositionStepping, nn.Conv2d):
    """Output (i, j) sees input row i, columns j-k//2 .. j; the tap at column j is colour-group masked."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        mask_type: MaskType,
        data_channels: int = 1,
        in_chunks: int = 1,
        out_chunks: int = 2,
    ) -> None:
        super().__init__(in_channels, out_channels, (1, kernel // 2 + 1))
        self.pad = (kernel // 2, 0, 0, 0)
        mask = self.weight.new_ones(self.weight.shape)
        out_groups = channel_groups(out_channels, data_channels, out_chunks)
        in_groups = channel_groups(in_channels, data_channels, in_chunks)
        mask[:, :, 0, -1] = centre_mask(out_groups, in_groups, mask_type)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(F.pad(x, self.pad), self.weight * self.mask, self.bias)

    def step_geometry(self) -> tuple[Tensor, int, int]:
        return self.weight * self.mask, 0, self.pad[0]


# --- the two-stream building blocks of PixelCNN++ (Salimans et al. 2017, arXiv 1701.05517) -------------------
# Conventions: a "down" map at (i, j) depends on input rows < i (after a `down_shift` of its first layer) and a
# "down-right" map at (i, j) on the positions before (i, j) in raster order. Down-shifted convolutions read rows
# i-kh+1 .. i, columns centred on j; down-right-shifted ones rows i-kh+1 .. i and columns j-kw+1 .. j. Both
# properties survive these layers, strided ones (a coarse (i, j) stands for the fine position (2i, 2j)) and the
# matching transposed ones (the fine (r, s) reads the coarse (r // 2, s // 2)).


def right_shift(x: Tensor) -> Tensor:
    """Move a (B, C, H, W) map one column right (zeros enter at the left)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


class DownShiftedConv2d(RowStepping, nn.Conv2d):
    """Kernel (kh, kw), kw odd: output (i, j) reads rows i-kh+1 .. i, columns j-kw//2 .. j+kw//2 (stride s: of the
    input position (s·i, s·j))."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 3), stride: int = 1):
        super().__init__(in_channels, out_channels, kernel, stride=stride)
        kh, kw = kernel
        self.pad = (kw // 2, kw // 2, kh - 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))

    def row_geometry(self) -> tuple[int, int, int]:
        return self.pad[2], self.pad[0], self.pad[1]


class DownRightShiftedConv2d(PositionStepping, nn.Conv2d):
    """Kernel (kh, kw): output (i, j) reads rows i-kh+1 .. i, columns j-kw+1 .. j (stride s: of (s·i, s·j))."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 2), stride: int = 1):
        super().__init__(in_channels, out_channels, kernel, stride=stride)
        kh, kw = kernel
        self.pad = (kw - 1, 0, kh - 1, 0)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, self.pad))

    def step_geometry(self) -> tuple[Tensor, int, int]:
        """Stepped on its input grid; with stride s its output (q, p) is the step at input (s·q, s·p)."""
        return self.weight, self.pad[2], self.pad[0]


class DownShiftedDeconv2d(nn.ConvTranspose2d):
    """2x up-sampling: fine (r, s) reads coarse row r // 2 and columns around s // 2; cropped to `size`."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int] = (2, 3)) -> None:
        super().__init__(in_channels, out_channels, kernel, stride=2)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:  # type: ignore[override]
        left = self.kernel_size[1] // 2
        return super().forward(x)[:, :, : size[0], left : left + size[1]]

    def row(self, coarse: Tensor, r: int, width: int) -> Tensor:
        """Fine row r from the coarse row r // 2, (n, W_c, C_in) → (n, width, C_out) (generation)."""
        return self(coarse.transpose(1, 2)[:, :, None], (2, width))[:, :, r % 2].transpose(1, 2)


class DownRightShiftedDeconv2d(nn.ConvTranspose2d):
    """2x up-sampling: fine (r, s) reads coarse (r // 2, s // 2) only (kernel 2x2); cropped to `size`."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, (2, 2), stride=2)

    def forward(self, x: Tensor, size: tuple[int, int]) -> Tensor:  # type: ignore[override]
        return super().forward(x)[:, :, : size[0], : size[1]]

    def taps(self) -> list[list[Pointwise]]:
        """The four 1x1 maps of a fine position by its parity (r % 2, s % 2), as matrices (generation)."""
        bias = self.bias.detach() if self.bias is not None else None
        w = self.weight.detach()  # (in, out, 2, 2)
        return [[Pointwise(w[:, :, a, b].contiguous(), bias) for b in range(2)] for a in range(2)]


# --- the start of the down-right stream (PixelCNN++ and PixelSNAIL), stepped for generation -------------------
# ul = down_shift(above(x)) + right_shift(left(x)), `above` a 1-row down-shifted convolution and `left` a 2 x 1
# down-right one: row i reads row i - 1 through `above` (once per row), position j reads column j - 1 of rows
# i - 1 and i through `left`.


@dataclass
class StreamStartState:
    above: RowState
    above_row: Tensor  # (n, W, F): `above`'s contribution to the current row (zeros on the first)
    left: PositionState


def start_state(
    above: DownShiftedConv2d, left: DownRightShiftedConv2d, n: int, height: int, width: int
) -> StreamStartState:
    zeros = left.weight.new_zeros(n, width, left.out_channels)
    return StreamStartState(above.init_rows(n, 1, width), zeros, left.init_step(n, height, width))


def start_row(
    above: DownShiftedConv2d, left: DownRightShiftedConv2d, state: StreamStartState, i: int, finished: Tensor | None
) -> None:
    """Row i starts; `finished`: the network input on row i - 1, (n, C, W) (None for i = 0)."""
    if finished is not None:
        state.above_row = above.row_step(state.above, 0, finished.transpose(1, 2))
    left.begin_row(state.left, i, finished=finished)


def start_at(left: DownRightShiftedConv2d, state: StreamStartState, j: int, row: Tensor) -> Tensor:
    """The stream's start at column j of the current row, given the network input on it so far (n, C, W): (n, F)."""
    out = state.above_row[:, j]
    return out + left.step_on_row(state.left, j - 1, row) if j else out
