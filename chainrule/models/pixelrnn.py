"""PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", arXiv 1601.06759):
`row-lstm` and `diagonal-bilstm`.

A 7x7 masked convolution of type A, then recurrent layers (`nn.recurrent`) with residual connections (a 1x1
convolution of each layer's state added to its input), then two 1x1 layers to the head: a K-way softmax per
sub-pixel (Bernoulli for binary data). Colour channels are predicted R → G → B inside a pixel.

Deviation: the residual stream has 2h channels, the recurrent state h, as in the paper's residual blocks; the row
LSTM's input-to-state convolution is 1 x k (masked B) on the current row.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.image import ImageModel, check_image_config
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.recurrent import DiagonalBiLSTM, RowLSTM


@dataclass(frozen=True)
class PixelRNNConfig:
    """PixelRNN hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: h, the LSTM state width; the residual stream has 2h (multiples of C).
        layers: recurrent layers.
        kernel: width of the Row LSTM's input-to-state convolution (odd; unused by the Diagonal BiLSTM).
        first_kernel: kernel of the type-A first layer (odd).
        hidden: width of the first 1x1 output layer (multiple of C).
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 32
    layers: int = 4
    kernel: int = 3
    first_kernel: int = 7
    hidden: int = 128

    def __post_init__(self) -> None:
        check_image_config(self.shape, self.levels, {"channels": self.channels, "hidden": self.hidden})
        if self.layers < 1:
            raise ConfigError(f"layers={self.layers} must be ≥ 1")


class PixelRNN(ImageModel):
    """long (B, C, H, W) → head params (B, C, H, W, P); subclasses choose the recurrent layer."""

    def make_layer(self, config: PixelRNNConfig) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        c, h = self.colours, config.channels
        self.first = MaskedConv2d(c, 2 * h, config.first_kernel, "A", c)
        self.recurrent = nn.ModuleList(self.make_layer(config) for _ in range(config.layers))
        self.residual = nn.ModuleList(MaskedConv2d(h, 2 * h, 1, "B", c) for _ in range(config.layers))
        self.hidden = MaskedConv2d(2 * h, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, self.out_channels, 1, "B", c)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        stream = self.first(self.encode(x))
        for layer, residual in zip(self.recurrent, self.residual, strict=True):
            stream = stream + residual(layer(stream))
        return self.to_params(self.output(torch.relu(self.hidden(torch.relu(stream)))))


PRESETS = {
    "cpu": dict(channels=24, layers=2, hidden=96, train=dict(batch_size=32, lr=2e-3)),
    "paper": dict(channels=128, layers=12, hidden=1024, train=dict(batch_size=16, lr=3e-4)),
}
TINY = dict(channels=6, layers=2, kernel=3, first_kernel=3, hidden=12)


@register("row-lstm", config=PixelRNNConfig, kind="image", tiny=TINY, presets=PRESETS)
class RowLSTMModel(PixelRNN):
    def make_layer(self, config: PixelRNNConfig) -> nn.Module:
        return RowLSTM(2 * config.channels, config.channels, config.kernel, self.colours)


@register("diagonal-bilstm", config=PixelRNNConfig, kind="image", tiny=TINY, presets=PRESETS)
class DiagonalBiLSTMModel(PixelRNN):
    def make_layer(self, config: PixelRNNConfig) -> nn.Module:
        return DiagonalBiLSTM(2 * config.channels, config.channels, self.colours)
