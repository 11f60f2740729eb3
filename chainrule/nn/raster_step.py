"""One-position and one-row steps of the causal convolutions of the image models, for fast generation
(Ramachandran et al. 2017, "Fast Generation for Convolutional Autoregressive Models", arXiv 1704.06001).

A raster-causal convolution's output at (i, j) reads rows above i and, in row i, columns up to j. Its step splits
the kernel in two: the rows above, applied once per row to the finished rows (`begin_row`: one convolution giving
the whole row's contribution plus the bias), and the current row's taps, applied at each position (`step`: one
matrix product of the window left of and at j, read from a buffer of the row's inputs so far). A convolution whose
output row i reads input rows ≤ i only (the vertical stack, the down-shifted stream) steps one row at a time
(`row_step`). 1x1 convolutions become one matrix product (`Pointwise`). Weights are taken as matrices once, when
the state is made; the states hold tensors with the generated examples first (a sampler may regroup them), and
the weights in fields marked `SHARED`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

# dataclass field metadata: the field is not per example (weights, plans); `models.base.index_rows` keeps it
SHARED = {"shared": True}


def conv_rows(rows: Tensor, weight: Tensor, bias: Tensor | None, stride: int = 1) -> Tensor:
    """A valid convolution of a few padded rows down to one output row, as one matrix product (faster than
    `conv2d` at these sizes on a CPU): rows (n, C_in, r, W_in), weight (C_in·r·kw, C_out) in (C_in, r, kw)
    order → (n, W, C_out), W = (W_in - kw) // stride + 1."""
    n, kw = rows.shape[0], weight.shape[0] // (rows.shape[1] * rows.shape[2])
    patches = rows.unfold(3, kw, stride).permute(0, 3, 1, 2, 4)  # (n, W, C_in, r, kw)
    width = patches.shape[1]
    flat = patches.reshape(n * width, -1)
    out = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    return out.view(n, width, -1)


def as_matrix(weight: Tensor) -> Tensor:
    """(C_out, C_in, r, kw) → (C_in·r·kw, C_out), the layout `conv_rows` takes."""
    return weight.reshape(weight.shape[0], -1).t().contiguous()


@dataclass
class Pointwise:
    """A 1x1 convolution as a matrix: (n, C_in) → (n, C_out)."""

    weight: Tensor = field(metadata=SHARED)  # (C_in, C_out)
    bias: Tensor | None = field(metadata=SHARED)  # (C_out,)

    @classmethod
    def of(cls, conv: nn.Conv2d, weight: Tensor | None = None) -> Pointwise:
        """From a 1x1 convolution; `weight` overrides its weight (a masked one)."""
        w = (conv.weight if weight is None else weight).detach()
        return cls(w[:, :, 0, 0].t().contiguous(), None if conv.bias is None else conv.bias.detach())

    @classmethod
    def of_linear(cls, linear: nn.Linear) -> Pointwise:
        """From a linear layer."""
        bias = None if linear.bias is None else linear.bias.detach()
        return cls(linear.weight.detach().t().contiguous(), bias)

    def __call__(self, x: Tensor) -> Tensor:
        """(n, C_in) or (..., C_in) → (..., C_out)."""
        if x.dim() != 2:
            return self(x.reshape(-1, x.shape[-1])).view(*x.shape[:-1], -1)
        return x @ self.weight if self.bias is None else torch.addmm(self.bias, x, self.weight)


@dataclass
class PositionState:
    """The step state of one raster-causal convolution (see `PositionStepping`)."""

    now: Tensor = field(metadata=SHARED)  # ((left + 1)·C_in, C_out): the current row's taps, window order
    upper: Tensor | None = field(metadata=SHARED)  # (C_in·up·kw, C_out): the rows above (`conv_rows`), or None
    bias: Tensor = field(metadata=SHARED)  # (C_out,)
    geometry: tuple[int, int, int] = field(metadata=SHARED)  # (up, left, right)
    image: Tensor  # (n, C_in, up + H, left + W + right): the inputs of the finished rows, zeros around
    row: Tensor  # (n, left + W, C_in): the current row's inputs so far (zeros on the left)
    above: Tensor  # (n, W, C_out): bias, rows-above contribution and any per-row extra of the current row


class PositionStepping:
    """Mixin for a convolution module whose output at (i, j) reads kernel row `up` at input row i, columns
    j - left .. j, and kernel rows above it at rows i - up .. i - 1 (all of its kw columns, from j - left); its
    kernel's taps right of j in row i, and any rows below, are zero."""

    def step_geometry(self) -> tuple[Tensor, int, int]:  # pragma: no cover - abstract
        """(the effective weight (C_out, C_in, kh, kw), up, left)."""
        raise NotImplementedError

    def init_step(self, n: int, height: int, width: int) -> PositionState:
        weight, up, left = self.step_geometry()
        weight = weight.detach()
        c_out, c_in, _, kw = weight.shape
        right = kw - 1 - left
        now = weight[:, :, up, : left + 1].permute(2, 1, 0).reshape(-1, c_out).contiguous()
        bias = self.bias.detach() if self.bias is not None else weight.new_zeros(c_out)  # type: ignore[attr-defined]
        return PositionState(
            now=now,
            upper=as_matrix(weight[:, :, :up]) if up else None,
            bias=bias,
            geometry=(up, left, right),
            image=weight.new_zeros(n, c_in, up + height, left + width + right) if up else weight.new_zeros(n, 0),
            row=weight.new_zeros(n, left + width, c_in),
            above=bias.expand(n, width, c_out).contiguous(),
        )

    @staticmethod
    def begin_row(state: PositionState, i: int, extra: Tensor | None = None, finished: Tensor | None = None) -> None:
        """Start row i (rows < i done): file the finished row and compute the rows-above part of row i.
        `extra`: added to every position of the row (a link, a condition), broadcast to (n, W, C_out).
        `finished`: the inputs of row i - 1, (n, C_in, W), for a layer that reads the data (whose last values
        arrive after its last step); default: the inputs its steps were given."""
        up, left, _ = state.geometry
        n, width = state.row.shape[0], state.row.shape[1] - left
        if up:
            if i:
                row = state.row[:, left:].transpose(1, 2) if finished is None else finished
                state.image[:, :, up + i - 1, left : left + width] = row
            above = conv_rows(state.image[:, :, i : i + up], state.upper, state.bias)  # (n, W, C_out)
        else:
            above = state.bias.expand(n, width, -1)
        state.above = (above if extra is None else above + extra).contiguous()

    @staticmethod
    def step(state: PositionState, j: int, x: Tensor) -> Tensor:
        """The output at column j of the current row, given the input there: (n, C_in) → (n, C_out)."""
        state.row[:, state.geometry[1] + j] = x
        return PositionStepping.output(state, j)

    @staticmethod
    def put(state: PositionState, j: int, x: Tensor) -> None:
        """Give the input at column j without computing the output there (a strided convolution, whose outputs
        sit at multiples of its stride, still reads every input)."""
        state.row[:, state.geometry[1] + j] = x

    @staticmethod
    def step_on_row(state: PositionState, j: int, row: Tensor) -> Tensor:
        """The output at column j given the current row's inputs so far, (n, C_in, W) (a layer that reads the data,
        whose values at earlier columns were completed after their steps): (n, C_out)."""
        left = state.geometry[1]
        state.row[:, left : left + j + 1] = row[:, :, : j + 1].transpose(1, 2)
        return PositionStepping.output(state, j)

    @staticmethod
    def output(state: PositionState, j: int) -> Tensor:
        """The output at column j from the row buffer's window there and the row's rows-above part: (n, C_out)."""
        window = state.row[:, j : j + state.geometry[1] + 1].reshape(state.row.shape[0], -1)
        return torch.addmm(state.above[:, j], window, state.now)


@dataclass
class RowState:
    """The step state of a convolution stepped one whole row at a time (see `RowStepping`)."""

    weight: Tensor = field(metadata=SHARED)  # (C_in·(up + 1)·kw, C_out), `conv_rows` layout
    bias: Tensor | None = field(metadata=SHARED)
    geometry: tuple[int, int, int] = field(metadata=SHARED)  # (up, left, right)
    image: Tensor  # (n, C_in, up + H, left + W + right): the input rows so far, zeros around


class RowStepping:
    """Mixin for a convolution whose output row i reads input rows i - up .. i (kernel height up + 1), columns
    j - left .. j + right."""

    def row_geometry(self) -> tuple[int, int, int]:  # pragma: no cover - abstract
        """(up, left, right)."""
        raise NotImplementedError

    def init_rows(self, n: int, height: int, width: int) -> RowState:
        """`height`, `width`: the input grid (a strided convolution's outputs are read with `row_out`)."""
        up, left, right = self.row_geometry()
        weight = self.weight.detach()  # type: ignore[attr-defined]
        image = weight.new_zeros(n, weight.shape[1], up + height, left + width + right)
        bias = None if self.bias is None else self.bias.detach()  # type: ignore[attr-defined]
        return RowState(weight=as_matrix(weight), bias=bias, geometry=(up, left, right), image=image)

    @staticmethod
    def row_write(state: RowState, i: int, x: Tensor) -> None:
        """Give input row i, (n, W, C_in)."""
        up, left, _ = state.geometry
        state.image[:, :, up + i, left : left + x.shape[1]] = x.transpose(1, 2)

    @staticmethod
    def rows_write(state: RowState, x: Tensor) -> None:
        """Give the first r input rows at once, (n, C_in, r, W)."""
        up, left, _ = state.geometry
        state.image[:, :, up : up + x.shape[2], left : left + x.shape[3]] = x

    def row_out(self, state: RowState, i: int) -> Tensor:
        """The output row that input row i ends (rows ≤ i given): (n, W_out, C_out); with stride s, the output
        row i / s, its columns at every s-th input column."""
        up = state.geometry[0]
        stride = self.stride[1]  # type: ignore[attr-defined]
        return conv_rows(state.image[:, :, i : i + up + 1], state.weight, state.bias, stride)

    def row_step(self, state: RowState, i: int, x: Tensor) -> Tensor:
        """Output row i given input row i (the rows above already given): (n, W, C_in) → (n, W, C_out)."""
        self.row_write(state, i, x)
        return self.row_out(state, i)


def signed(state: PositionState | RowState | Pointwise) -> PositionState | RowState | Pointwise:
    """The same step with outputs [y, −y] (2·C_out): what a concat-ELU after it needs, with no negation or
    concatenation per step (its weights and bias stacked with their negatives, once)."""

    def both(t: Tensor) -> Tensor:
        return torch.cat([t, -t], dim=-1).contiguous()

    if isinstance(state, Pointwise):
        return Pointwise(both(state.weight), None if state.bias is None else both(state.bias))
    if isinstance(state, RowState):
        return RowState(
            both(state.weight), None if state.bias is None else both(state.bias), state.geometry, state.image
        )
    n, width, _ = state.above.shape
    bias = both(state.bias)
    upper = None if state.upper is None else both(state.upper)
    return PositionState(
        both(state.now), upper, bias, state.geometry, state.image, state.row, bias.expand(n, width, -1)
    )


def sign_matrix(channels: int, like: Tensor) -> Tensor:
    """[I, −I] (C, 2C): x @ it = [x, −x] in one product."""
    eye = torch.eye(channels, dtype=like.dtype, device=like.device)
    return torch.cat([eye, -eye], dim=1)
