"""PixelRNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", arXiv 1601.06759):
`row-lstm` and `diagonal-bilstm`.

A 7x7 masked convolution of type A, then recurrent layers (`nn.recurrent`) with residual connections (a 1x1
convolution of each layer's state added to its input), then two 1x1 layers to the head: a K-way softmax per
sub-pixel (Bernoulli for binary data). Colour channels are predicted R → G → B inside a pixel.

Deviation: the residual stream has 2h channels, the recurrent state h, as in the paper's residual blocks; the row
LSTM's input-to-state convolution is 1 x k (masked B) on the current row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, masked_network
from chainrule.models.image import ImageModel, PixelCache, check_image_config
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED, Pointwise, PositionState
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

    def footprint(self, diagonal: bool) -> Footprint:
        """Weights and build work of the Row LSTM (`diagonal` False) or the Diagonal BiLSTM."""
        c, h, per_dim = self.shape[0], self.channels, discrete_head(self.levels)[1]
        if diagonal:
            recurrent = 2 * (conv(2 * h, 4 * h, 1, 1) + conv(2 * h, 4 * h))
        else:
            recurrent = conv(2 * h, 4 * h, 1, self.kernel) + conv(3 * h, 4 * h)
        weights = (
            conv(c, 2 * h, self.first_kernel, self.first_kernel)
            + self.layers * (recurrent + conv(h, 2 * h, 1, 1))
            + conv(2 * h, self.hidden, 1, 1)
            + conv(self.hidden, c * per_dim, 1, 1)
            + (
                conv(c, 4 * h, 1, 1, bias=False) if diagonal else 0
            )  # the first layer's mirrored direction reads the pixels
        )
        return masked_network(weights, modules=6 + 8 * self.layers, masks=weights)


class PixelRNN(ImageModel):
    """long (B, C, H, W) → head params (B, C, H, W, P); subclasses choose the recurrent layer."""

    def make_layer(self, config: PixelRNNConfig, k: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def __init__(self, config: PixelRNNConfig) -> None:
        super().__init__(config)
        c, h = self.colours, config.channels
        self.first = MaskedConv2d(c, 2 * h, config.first_kernel, "A", c)
        self.recurrent = nn.ModuleList(self.make_layer(config, k) for k in range(config.layers))
        self.residual = nn.ModuleList(MaskedConv2d(h, 2 * h, 1, "B", c) for _ in range(config.layers))
        self.hidden = MaskedConv2d(2 * h, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, self.out_channels, 1, "B", c)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        scaled = self.encode(x)
        stream = self.first(scaled)
        for k, (layer, residual) in enumerate(zip(self.recurrent, self.residual, strict=True)):
            stream = stream + residual(self.run_layer(k, layer, stream, scaled))
        return self.to_params(self.output(torch.relu(self.hidden(torch.relu(stream)))))

    def run_layer(self, k: int, layer: nn.Module, stream: Tensor, pixels: Tensor) -> Tensor:
        """Recurrent layer k on the residual stream (the scaled pixels are there for layers that read them)."""
        return layer(stream)

    # --- generation: one position per layer; each recurrent layer steps its own state ---------------------------

    def init_layers(self, n: int, cond: Tensor | None) -> PixelRNNCache:
        _, height, width = self.shape
        return PixelRNNCache(
            first=self.first.init_step(n, height, width),
            recurrent=[layer.init_step(n, height, width) for layer in self.recurrent],
            residual=[residual.as_pointwise() for residual in self.residual],
            head=(self.hidden.as_pointwise(), self.output.as_pointwise()),
        )

    def begin_row(self, cache: PixelCache, i: int) -> None:
        state = cache.layers
        finished = self.encode(cache.x[:, :, i - 1]) if i else None
        self.first.begin_row(state.first, i, finished=finished)
        for k, (layer, layer_state) in enumerate(zip(self.recurrent, state.recurrent, strict=True)):
            self.begin_layer_row(k, layer, layer_state, i, finished)

    def begin_layer_row(self, k: int, layer: nn.Module, state: Any, i: int, finished: Tensor | None) -> None:
        layer.begin_row(state, i)

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:
        state = cache.layers
        stream = self.first.step_on_row(state.first, j, self.encode(cache.x[:, :, i]))
        for layer, layer_state, residual in zip(self.recurrent, state.recurrent, state.residual, strict=True):
            stream = stream + residual(self.step_layer(layer, layer_state, i, j, stream))
        return self.pointwise_head(state.head, stream)

    def step_layer(self, layer: nn.Module, state: Any, i: int, j: int, stream: Tensor) -> Tensor:
        return layer.step(state, j, stream)


@dataclass
class PixelRNNCache:
    first: PositionState
    recurrent: list[Any]  # each layer's step state
    residual: list[Pointwise] = field(metadata=SHARED)
    head: tuple[Pointwise, Pointwise] = field(metadata=SHARED)


PRESETS = {
    "cpu": dict(channels=24, layers=2, hidden=96, train=dict(batch_size=32, lr=2e-3)),
    "paper": dict(channels=128, layers=12, hidden=1024, train=dict(batch_size=16, lr=3e-4)),
}
TINY = dict(channels=6, layers=2, kernel=3, first_kernel=3, hidden=12)


@register(
    "row-lstm", config=PixelRNNConfig, kind="image", tiny=TINY, presets=PRESETS, colour_fields=("channels", "hidden")
)
class RowLSTMModel(PixelRNN):
    @classmethod
    def footprint(cls, config: PixelRNNConfig) -> Footprint:
        return config.footprint(diagonal=False)

    def make_layer(self, config: PixelRNNConfig, k: int) -> nn.Module:
        return RowLSTM(2 * config.channels, config.channels, config.kernel, self.colours)


@register(
    "diagonal-bilstm",
    config=PixelRNNConfig,
    kind="image",
    tiny=TINY,
    presets=PRESETS,
    colour_fields=("channels", "hidden"),
)
class DiagonalBiLSTMModel(PixelRNN):
    @classmethod
    def footprint(cls, config: PixelRNNConfig) -> Footprint:
        return config.footprint(diagonal=True)

    def make_layer(self, config: PixelRNNConfig, k: int) -> nn.Module:
        # the first layer's mirrored direction reads the pixels too (a complete context: `nn.recurrent`)
        return DiagonalBiLSTM(2 * config.channels, config.channels, self.colours, self.colours if k == 0 else 0)

    def run_layer(self, k: int, layer: nn.Module, stream: Tensor, pixels: Tensor) -> Tensor:
        return layer(stream, pixels if k == 0 else None)

    def begin_layer_row(self, k: int, layer: nn.Module, state: Any, i: int, finished: Tensor | None) -> None:
        layer.begin_row(state, i, finished.transpose(1, 2) if finished is not None and k == 0 else None)

    def step_layer(self, layer: nn.Module, state: Any, i: int, j: int, stream: Tensor) -> Tensor:
        return layer.step(state, i, j, stream)
