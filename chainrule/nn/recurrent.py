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

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED, Pointwise, PositionState
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

    # --- one position at a time (generation): the state of (i, j) reads row i - 1's states and the input row ----

    def init_step(self, n: int, height: int, width: int) -> RowLSTMState:
        zeros = [self.input_to_state.weight.new_zeros(n, width, self.channels) for _ in range(4)]
        input_state = self.input_to_state.init_step(n, height, width)
        return RowLSTMState(input_state, Pointwise.of_linear(self.state_to_state), *zeros)

    def begin_row(self, state: RowLSTMState, i: int) -> None:
        """Row i starts: row i - 1's states become the ones above; their state-to-state part for the whole row."""
        if i:
            state.h_above, state.c_above = state.h, state.c
            state.h, state.c = torch.zeros_like(state.h), torch.zeros_like(state.c)
        n, width, _ = state.h_above.shape
        above = state.state_to_state(neighbours(state.h_above, 1, 1).flatten(0, 1)).view(n, width, -1)
        self.input_to_state.begin_row(state.input, i, above)

    def step(self, state: RowLSTMState, j: int, x: Tensor) -> Tensor:
        """The state at column j of the current row given the input there: (n, F_in) → (n, F)."""
        h, c = lstm_update(self.input_to_state.step(state.input, j, x), state.c_above[:, j])
        state.h[:, j], state.c[:, j] = h, c
        return h


@dataclass
class RowLSTMState:
    input: PositionState
    state_to_state: Pointwise = field(metadata=SHARED)
    h_above: Tensor  # (n, W, F): row i - 1
    c_above: Tensor
    h: Tensor  # (n, W, F): row i so far
    c: Tensor


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

    # --- one position at a time (generation): the forward direction per pixel, the mirrored one per finished row --

    def init_step(self, n: int, height: int, width: int) -> DiagonalBiLSTMState:
        weight = self.forward_direction.input_to_state.weight
        f = self.forward_direction.channels

        def grid(channels: int) -> Tensor:  # a zero row above and a zero column left of the image
            return weight.new_zeros(n, height + 1, width + 1, channels)

        forward, backward = self.forward_direction, self.backward_direction
        pixels = None if self.pixels_to_state is None else Pointwise.of(self.pixels_to_state)
        return DiagonalBiLSTMState(
            forward_input=forward.input_to_state.as_pointwise(),
            forward_state=Pointwise.of_linear(forward.state_to_state),
            backward_input=backward.input_to_state.as_pointwise(),
            backward_state=Pointwise.of_linear(backward.state_to_state),
            pixels=pixels,
            h=grid(f),
            c=grid(f),
            inputs=weight.new_zeros(n, width, weight.shape[1]),
            back=weight.new_zeros(n, width, f),
        )

    def begin_row(self, state: DiagonalBiLSTMState, i: int, pixels: Tensor | None = None) -> None:
        """Row i starts: the mirrored direction on the finished row i - 1, right to left (its inputs as the steps
        were given; `pixels`: row i - 1 of the data (n, W, C) for a layer that reads them)."""
        if not i:
            return
        n, width, _ = state.inputs.shape
        gates = state.backward_input(state.inputs.flatten(0, 1)).view(n, width, -1)
        if state.pixels is not None:
            gates = gates + state.pixels(pixels.flatten(0, 1)).view(n, width, -1)
        above = state.back
        h = c = torch.zeros_like(above[:, 0])
        back = torch.empty_like(above)
        for j in reversed(range(width)):
            h, c = lstm_update(gates[:, j] + state.backward_state(torch.cat([above[:, j], h], dim=-1)), c)
            back[:, j] = h
        state.back = back

    def step(self, state: DiagonalBiLSTMState, i: int, j: int, x: Tensor) -> Tensor:
        """Both directions at pixel (i, j) given the input there: (n, F_in) → (n, F)."""
        state.inputs[:, j] = x
        up, left = state.h[:, i, j + 1], state.h[:, i + 1, j]  # pixels (i - 1, j) and (i, j - 1), zeros off the image
        gates = state.forward_input(x) + state.forward_state(torch.cat([up, left], dim=-1))
        h, c = lstm_update(gates, state.c[:, i + 1, j])
        state.h[:, i + 1, j + 1], state.c[:, i + 1, j + 1] = h, c
        return h + state.back[:, j]


@dataclass
class DiagonalBiLSTMState:
    forward_input: Pointwise = field(metadata=SHARED)
    forward_state: Pointwise = field(metadata=SHARED)
    backward_input: Pointwise = field(metadata=SHARED)
    backward_state: Pointwise = field(metadata=SHARED)
    pixels: Pointwise | None = field(metadata=SHARED)
    h: Tensor  # (n, H + 1, W + 1, F): forward-direction states of the pixels so far, pixel (i, j) at [i + 1, j + 1]
    c: Tensor
    inputs: Tensor  # (n, W, F_in): the inputs of the current row so far
    back: Tensor  # (n, W, F): the mirrored direction on the last finished row (what the current row adds)
