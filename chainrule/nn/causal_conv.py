"""Causal dilated 1-D convolution (WaveNet, arXiv 1609.03499) and, for fast generation (Paine et al. 2016,
arXiv 1611.09482), ring buffers of each layer's last (k - 1)·d inputs, so a new output costs one kernel application
instead of a pass over the receptive field.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class CausalConv1d(nn.Conv1d):
    """Output t reads inputs t - (k-1)·d, ..., t - d, t (zeros before the start)."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int = 2, dilation: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel, dilation=dilation)
        self.left = (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(F.pad(x, (self.left, 0)))

    def step_weights(self) -> tuple[Tensor, Tensor]:
        """The kernel as two matrices for one-step use: (C_in, C_out) for the input at t, and
        ((k-1)·C_in, C_out) for the inputs at t - d, t - 2d, ..., t - (k-1)·d, in that order."""
        k = self.kernel_size[0]
        now = self.weight[:, :, k - 1].t().contiguous()
        past = torch.cat([self.weight[:, :, k - 1 - j].t() for j in range(1, k)], dim=0)
        return now, past


class StackQueues:
    """The past inputs of a stack of causal convolutions (same input width), for one-step generation.

    Each layer has a ring buffer of its last (k-1)·d inputs; all rings live in one tensor, so one step reads every
    layer's past taps with a single gather (`past`) and stores every layer's new input with a single scatter
    (`push`). Slots not yet written hold zeros: the padding before the start.
    """

    def __init__(
        self, convs: Sequence[CausalConv1d], batch: int, device: torch.device, dtype: torch.dtype = torch.float32
    ) -> None:
        sizes = [max(1, conv.left) for conv in convs]
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        taps = [
            (offset, j * conv.dilation[0], size)
            for conv, offset, size in zip(convs, offsets, sizes, strict=True)
            for j in range(1, conv.kernel_size[0])
        ]
        self.layers = len(convs)
        self.buffer = torch.zeros(batch, sum(sizes), convs[0].in_channels, device=device, dtype=dtype)
        self._tap_offset, self._tap_lag, self._tap_size = (
            torch.tensor(column, device=device) for column in zip(*taps, strict=True)
        )
        self._offset = torch.tensor(offsets, device=device)
        self._size = torch.tensor(sizes, device=device)

    def past(self, t: int) -> Tensor:
        """Inputs at t - j·d for every layer and tap j = 1 .. k-1: (layers, B, (k-1)·C_in)."""
        slots = self._tap_offset + (t - self._tap_lag).remainder(self._tap_size)
        batch = self.buffer.shape[0]
        return self.buffer[:, slots].reshape(batch, self.layers, -1).transpose(0, 1)

    def push(self, t: int, inputs: Tensor) -> None:
        """Store the inputs at t of every layer, (layers, B, C_in)."""
        self.buffer[:, self._offset + t % self._size] = inputs.transpose(0, 1)
