"""The gated residual block of PixelCNN++ (Salimans et al. 2017, arXiv 1701.05517), also PixelSNAIL's.

    c = conv(concat_elu(x)) [+ 1x1(concat_elu(a))]      a: an auxiliary input (the other stream, a skip, attention)
    c = dropout(concat_elu(c))
    y, g = conv(c) [+ condition]                          two halves
    out = x + y ⊙ σ(g)

`conv` is any causal convolution class (down- or down-right-shifted), so the block keeps the causal property of
its convolutions: the output at a position reads x and a at that position and what `conv` sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.nn.raster_step import (
    SHARED,
    Pointwise,
    PositionState,
    PositionStepping,
    RowState,
    RowStepping,
    sign_matrix,
    signed,
)


def concat_elu(x: Tensor, dim: int = 1) -> Tensor:
    """ELU of [x, -x] along the channel axis `dim`: keeps both signs' information (2C channels out)."""
    return F.elu(torch.cat([x, -x], dim=dim))


class GatedResNet(nn.Module):
    """x (B, F, H, W) [, a (B, A, H, W), condition bias (B, 2F, 1, 1)] → (B, F, H, W).

    Args:
        channels: F.
        conv: builds a causal convolution, conv(in_channels, out_channels).
        aux_channels: A (0 = no auxiliary input).
        dropout: dropout probability between the two convolutions.
    """

    def __init__(
        self, channels: int, conv: Callable[[int, int], nn.Module], aux_channels: int = 0, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.first = conv(2 * channels, channels)
        self.aux = nn.Conv2d(2 * aux_channels, channels, 1) if aux_channels else None
        self.dropout = nn.Dropout(dropout)
        self.second = conv(2 * channels, 2 * channels)

    def forward(self, x: Tensor, a: Tensor | None = None, condition: Tensor | float = 0.0) -> Tensor:
        c = self.first(concat_elu(x))
        if self.aux is not None:
            if a is None:
                raise ValueError("this block was built with an auxiliary input; pass a")
            c = c + self.aux(concat_elu(a))
        y, g = (self.second(self.dropout(concat_elu(c))) + condition).chunk(2, dim=1)
        return x + y * torch.sigmoid(g)

    # --- generation: one position at a time (down-right-shifted or 1x1 convolutions), or one row at a time ------
    # (down-shifted convolutions: the u stream of PixelCNN++). Features last: (n, F) at a position, (n, W, F) a row.

    def init_step(self, n: int, height: int, width: int) -> GatedResNetState:
        def conv_state(conv: nn.Module) -> PositionState | RowState | Pointwise:
            if isinstance(conv, PositionStepping):
                return conv.init_step(n, height, width)
            if isinstance(conv, RowStepping):
                return conv.init_rows(n, height, width)
            return Pointwise.of(conv)

        # the first convolution (and the auxiliary 1x1) emit [c, −c]: the concat-ELU before the second one is an ELU
        aux = signed(Pointwise.of(self.aux)) if self.aux is not None else None
        weight = self.second.weight
        signs = sign_matrix(weight.shape[0] // 2, weight.detach())
        aux_signs = sign_matrix(self.aux.in_channels // 2, weight.detach()) if self.aux is not None else None
        return GatedResNetState(signed(conv_state(self.first)), conv_state(self.second), aux, signs, aux_signs)

    def begin_row(self, state: GatedResNetState, i: int) -> None:
        """Row i starts: the rows-above part of each convolution with a position step."""
        for conv, conv_state in ((self.first, state.first), (self.second, state.second)):
            if isinstance(conv_state, PositionState):
                conv.begin_row(conv_state, i)

    def step(
        self, state: GatedResNetState, j: int, x: Tensor, a: Tensor | None = None, condition: Tensor | None = None
    ) -> Tensor:
        """The block at column j of the current row: x (n, F) [, a (n, A), condition (n, 2F)] → (n, F)."""
        return self._step(state, j, x, a, condition)

    def row_step(
        self, state: GatedResNetState, i: int, x: Tensor, a: Tensor | None = None, condition: Tensor | None = None
    ) -> Tensor:
        """The block on row i given its input row (the rows above given): x (n, W, F) [, a (n, W, A),
        condition (n, 1, 2F)] → (n, W, F)."""
        return self._step(state, i, x, a, condition)

    def _step(self, state: GatedResNetState, at: int, x: Tensor, a: Tensor | None, condition: Tensor | None) -> Tensor:
        both = _apply(self.first, state.first, at, F.elu(x @ state.signs))  # [c, −c]
        if state.aux is not None:
            both = both + state.aux(F.elu(a @ state.aux_signs))
        out = _apply(self.second, state.second, at, F.elu(both))
        y, g = (out if condition is None else out + condition).chunk(2, dim=-1)
        return x + y * torch.sigmoid(g)


def _apply(conv: nn.Module, state: PositionState | RowState | Pointwise, at: int, x: Tensor) -> Tensor:
    if isinstance(state, PositionState):
        return conv.step(state, at, x)
    if isinstance(state, RowState):
        return conv.row_step(state, at, x)
    return state(x)


@dataclass
class GatedResNetState:
    first: PositionState | RowState | Pointwise  # emits [c, −c]
    second: PositionState | RowState | Pointwise
    aux: Pointwise | None = field(metadata=SHARED)  # emits its share of [c, −c]
    signs: Tensor = field(metadata=SHARED)  # [I, −I] (F, 2F): x @ signs = [x, −x]
    aux_signs: Tensor | None = field(metadata=SHARED)
