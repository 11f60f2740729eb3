"""The two recurrent layers of PixelRNN (van den Oord et al. 2016, arXiv 1601.06759, section 3).

Both split the LSTM gates into four chunks (o, f, i, g) whose channels carry the colour groups of
`masked_conv.channel_groups`, so the R → G → B order inside a pixel holds: the input-to-state convolution is masked
(type B) at the current pixel, the state-to-state convolution only reads states of earlier pixels.

- `RowLSTM`: one row at a time; the state of row i comes from a 1-D convolution (width 3) of row i-1's state and a
  masked 1 x k input-to-state convolution of row i. Its receptive field is a triangle above the pixel.
- `DiagonalBiLSTM`: on the skewed map (`nn.skew`) one column (= one diagonal) at a time; the state at (i, j) comes
  from (i, j-1) and (i-1, j) through a 2 x 1 convolution. The second direction runs on the mirrored image and its
  output is shifted one row down, so that it adds the context above-right without seeing the current row; in the
  first layer it also reads the pixels themselves, which makes the context complete (see the class).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.shifted_conv import down_shift
from chainrule.nn.skew import skew, unskew


def lstm_update(gates: Tensor, cell: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step from pre-activations (..., 4F) ordered (o, f, i, g) on the last axis: returns (h, c)."""
    o, f, i, g = gates.chunk(4, dim=-1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell


def neighbours(h: Tensor, before: int, after: int) -> Tensor:
    """(B, N, F) states → (B, N, (before + 1 + after)·F): each position with its neighbours along N (zero-padded),
    so that a state-to-state convolution is one matrix product (faster than a tiny convolution per step)."""
    n = h.shape[1]
    padded = F.pad(h, (0, 0, before, after))
    return torch.cat([padded[:, k : k + n] for k in range(before + 1 + after)], dim=-1)


class RowLSTM(nn.Module):
    """(B, F_in, H, W) → (B, F, H, W), row by row; the state-to-state convolution spans 3 columns."""

    def __init__(self, in_channels: int, channels: int, kernel: int, colours: int) -> None:
        super().__init__()
        self.channels = channels
        self.input_to_state = MaskedConv2d(in_channels, 4 * channels, (1, kernel), "B", colours, out_chunks=4)
        self.state_to_state = nn.Linear(3 * channels, 4 * channels)

    def forward(self, x: Tensor) -> Tensor:
        inputs = self.input_to_state(x).permute(0, 2, 3, 1)  # (B, H, W, 4F)
        b, _, width, _ = inputs.shape
        h = c = inputs.new_zeros(b, width, self.channels)
        rows = []
        for row in inputs.unbind(1):  # unbind: one backward copy, not one per row
            h, c = lstm_update(row + self.state_to_state(neighbours(h, 1, 1)), c)
            rows.append(h)
        return torch.stack(rows, dim=1).permute(0, 3, 1, 2)


class DiagonalLSTM(nn.Module):
    """One direction of the diagonal LSTM: (B, F_in, H, W) → (B, F, H, W); the state at (i, j) sees every pixel
    (i', j') with i' ≤ i and j' ≤ j (and the current pixel's earlier colour groups). States of the skewed map's
    padding (off the image) are held at zero, so the first column and row see no phantom neighbours."""

    def __init__(self, in_channels: int, channels: int, colours: int) -> None:
        super().__init__()
        self.channels = channels
        self.input_to_state = MaskedConv2d(in_channels, 4 * channels, 1, "B", colours, out_chunks=4)
        self.state_to_state = nn.Linear(2 * channels, 4 * channels)  # rows i-1 and i of the previous column

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        """`extra`: optional gate pre-activations (B, 4F, H, W) added to the input-to-state part."""
        width = x.shape[3]
        gates = self.input_to_state(x) if extra is None else self.input_to_state(x) + extra
        inputs = skew(gates).permute(0, 3, 2, 1)  # (B, W + H - 1, H, 4F)
        b, columns, height, _ = inputs.shape
        # skewed (row r, column s) is the pixel (r, s - r): states off the image stay zero
        offset = torch.arange(columns, device=x.device)[:, None] - torch.arange(height, device=x.device)[None, :]
        inside = ((offset >= 0) & (offset < width)).to(inputs.dtype)[:, :, None]  # (W + H - 1, H, 1)
        h = c = inputs.new_zeros(b, height, self.channels)
        out = []
        for column, keep in zip(inputs.unbind(1), inside.unbind(0), strict=True):
            h, c = lstm_update(column + self.state_to_state(neighbours(h, 1, 0)), c)
            h, c = h * keep, c * keep
            out.append(h)
        return unskew(torch.stack(out, dim=1).permute(0, 3, 2, 1), width)


class DiagonalBiLSTM(nn.Module):
    """Both directions, the mirrored one shifted one row down: (B, F_in, H, W) → (B, F, H, W).

    With `pixels` > 0 the mirrored direction also reads the data itself (B, pixels, H, W), unmasked: its output at
    row i is used at row i + 1, so it may see all of row i, the pixels included. Without that, the input stream at
    (i, W-1) holds only what precedes that pixel, and (i + 1, j) for j < W-1-reach (reach: the first layer's kernel
    radius) never sees pixel (i, W-1) however deep the network (the forward direction only carries context
    rightwards and downwards). The first layer of the Diagonal BiLSTM model reads the pixels this way.
    """

    def __init__(self, in_channels: int, channels: int, colours: int, pixels: int = 0) -> None:
        super().__init__()
        self.forward_direction = DiagonalLSTM(in_channels, channels, colours)
        self.backward_direction = DiagonalLSTM(in_channels, channels, colours)
        self.pixels_to_state = nn.Conv2d(pixels, 4 * channels, 1, bias=False) if pixels else None

    def forward(self, x: Tensor, pixels: Tensor | None = None) -> Tensor:
        extra = None
        if self.pixels_to_state is not None:
            if pixels is None:
                raise ValueError("this layer was built to read the pixels; pass them")
            extra = self.pixels_to_state(pixels).flip(3)
        mirrored = self.backward_direction(x.flip(3), extra).flip(3)
        return self.forward_direction(x) + down_shift(mirrored)
