"""Causal dilated 1-D convolution (WaveNet, arXiv 1609.03499) and its one-step form for fast generation
(Paine et al. 2016, arXiv 1611.09482): a ring buffer of the last (k - 1)·d inputs per layer, so a new output
costs one kernel application instead of a pass over the receptive field.
"""

from __future__ import annotations

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

    def new_queue(self, batch: int, device: torch.device, dtype: torch.dtype = torch.float32) -> Tensor:
        """Ring buffer of past inputs for `step`: (B, C_in, (k-1)·d), zeros = the padding before the start."""
        return torch.zeros(batch, self.in_channels, max(1, self.left), device=device, dtype=dtype)

    def step(self, x: Tensor, queue: Tensor, t: int) -> Tensor:
        """Output at time t from the input x (B, C_in) at t and the queue of earlier inputs; stores x in the
        queue. Equals forward(...)[..., t]. Returns (B, C_out)."""
        k, d, size = self.kernel_size[0], self.dilation[0], queue.shape[2]
        out = F.linear(x, self.weight[:, :, k - 1], self.bias)
        for j in range(1, k):  # tap k-1-j reads the input at t - j·d
            out = out + F.linear(queue[:, :, (t - j * d) % size], self.weight[:, :, k - 1 - j])
        if self.left:
            queue[:, :, t % size] = x
        return out
