"""One position of a whole stack of gated layers (Gated PixelCNN's horizontal stacks and its output head) as one
compiled function, for per-position generation.

A step of the cpu preset is ~90 small operations on a few hundred numbers: Python's cost per operation, not the
arithmetic, sets its time. The function below performs exactly the operations of the layers' own steps
(`GatedLayer.step`, `PositionStepping.step`, `Pointwise`), on the same state tensors (the row buffers and rows-above
parts that `begin_row` keeps), in one TorchScript graph: the same numbers (tested), at 1.27-1.34x less time per
step for the video prior (BENCHMARKS.md, "The latent route at 10x"). TorchScript is deprecated upstream in
favour of `torch.compile`, but `torch.compile` of this step hit its recompilation limit (a graph per column
index); the script is compiled once per process, on first use.
"""

from __future__ import annotations

import functools
import warnings
from typing import Optional

import torch
from torch import Tensor


def gated_stack_step(
    data_row: Tensor,
    j: int,
    rows: list[Tensor],
    above: list[Tensor],
    now: list[Tensor],
    out_weight: list[Tensor],
    out_bias: list[Tensor],
    lefts: list[int],
    head: list[Tensor],
    head_bias: Optional[Tensor],  # noqa: UP045 - TorchScript reads typing.Optional
) -> Tensor:
    """Column j of the current row through every layer, then the two 1x1 output layers: (n, C·P).

    data_row: the first layer's input row so far, (n, C_in, W); rows[l]: layer l's row buffer (n, left + W, C_in),
    written in place as the layer's step writes it; above[l]: its rows-above part and bias (n, W, 2f); now[l]: its
    current-row taps ((left + 1)·C_in, 2f); out_weight / out_bias: the 1x1 after its gate; head: (hidden weight,
    hidden bias, output weight, output bias); head_bias: the map's bias on the hidden layer at (i, j), (n, hidden).
    The first layer has no residual connection (type A); the later ones do."""
    n = data_row.shape[0]
    h = data_row  # never read: the first layer takes the row
    for layer in range(len(rows)):
        row, left = rows[layer], lefts[layer]
        if layer == 0:
            row[:, left : left + j + 1] = data_row[:, :, : j + 1].transpose(1, 2)
        else:
            row[:, left + j] = h
        pre = torch.addmm(above[layer][:, j], row[:, j : j + left + 1].reshape(n, -1), now[layer])
        a, b = pre.chunk(2, 1)
        new = torch.addmm(out_bias[layer], torch.tanh(a) * torch.sigmoid(b), out_weight[layer])
        h = new if layer == 0 else h + new
    hidden = torch.addmm(head[1], torch.relu(h), head[0])
    if head_bias is not None:
        hidden = hidden + head_bias
    return torch.addmm(head[3], torch.relu(hidden), head[2])


@functools.cache
def compiled_gated_stack_step():
    """`gated_stack_step` compiled (once per process)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated upstream; still works
        return torch.jit.script(gated_stack_step)
