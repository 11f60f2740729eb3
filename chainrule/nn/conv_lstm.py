"""A convolutional LSTM (Shi et al. 2015, arXiv 1506.04214): an LSTM whose input-to-state and state-to-state maps
are convolutions, so that its state is a feature map. Video Pixel Networks carry the past frames in one
(Kalchbrenner et al. 2016, arXiv 1610.00527, section 3).

The gates come from one k x k convolution of the frame's features and the previous hidden state side by side,
ordered (o, f, i, g) on the channel axis. Its step is one frame: `step(state, features)` gives the state after that
frame; `forward` runs a whole sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class ConvLSTMState:
    """The hidden state and the cell of every example, (n, F, H, W) each (rows first)."""

    h: Tensor
    c: Tensor


class ConvLSTM(nn.Module):
    """Frames of features (B, T, F_in, H, W) → the hidden state after each frame, (B, T, F, H, W)."""

    def __init__(self, in_channels: int, channels: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"a ConvLSTM needs an odd kernel, got {kernel}")
        self.channels = channels
        self.gates = nn.Conv2d(in_channels + channels, 4 * channels, kernel, padding=kernel // 2)
        with torch.no_grad():  # forget gate biased open at the start (the usual LSTM initialisation)
            self.gates.bias[channels : 2 * channels].fill_(1.0)

    def init_state(self, n: int, height: int, width: int) -> ConvLSTMState:
        zeros = self.gates.weight.new_zeros(n, self.channels, height, width)
        return ConvLSTMState(zeros, zeros.clone())

    def step(self, state: ConvLSTMState, features: Tensor) -> ConvLSTMState:
        """The state after one more frame of features (n, F_in, H, W)."""
        o, f, i, g = self.gates(torch.cat([features, state.h], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * state.c + torch.sigmoid(i) * torch.tanh(g)
        return ConvLSTMState(torch.sigmoid(o) * torch.tanh(cell), cell)

    def forward(self, frames: Tensor) -> Tensor:
        b, _, _, height, width = frames.shape
        state = self.init_state(b, height, width)
        states = []
        for features in frames.unbind(1):
            state = self.step(state, features)
            states.append(state.h)
        return torch.stack(states, dim=1)


def conv_lstm_weights(in_channels: int, channels: int, kernel: int) -> int:
    """The weights of `ConvLSTM(in_channels, channels, kernel)` (for footprints)."""
    return (in_channels + channels) * 4 * channels * kernel * kernel + 4 * channels
