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
from typing import Any

import torch
from torch import Tensor, nn

from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, masked_network
from chainrule.models.image import ImageModel, check_image_config
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.recurrent import DiagonalBiLSTM, RowLSTM, lstm_update, neighbours


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

    # --- cached generation: the LSTM state of the last finished row; a step computes the current row only -------

    cache_step = ImageModel.row_cache_step  # rows, not yet positions

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        device = self.output.weight.device
        width, f = self.shape[2], self.config.channels
        zero = torch.zeros(n, width, f, device=device)
        return {
            **self.new_row_cache(n, cond),
            "state": [(zero, zero) for _ in self.recurrent],  # (h, c) of the last finished row, (n, W, F)
        }

    def cache_row(self, cache: dict[str, Any], row: int, keep: bool) -> Tensor:
        """The residual stream on `row` (n, 2h, 1, W) from the states of the row above; with `keep`, the row is
        complete and its states replace them."""
        reach = self.first.kernel_size[0] // 2
        stream = self.first(self.encode(cache["x"][:, :, max(0, row - reach) : row + 1]))[:, :, -1:]
        for i, (layer, residual) in enumerate(zip(self.recurrent, self.residual, strict=True)):
            h, c = cache["state"][i]
            gates = layer.input_to_state(stream)[:, :, 0].transpose(1, 2)  # (n, W, 4F)
            h, c = lstm_update(gates + layer.state_to_state(neighbours(h, 1, 1)), c)
            if keep:
                cache["state"][i] = (h, c)
            stream = stream + residual(h.transpose(1, 2)[:, :, None])
        return stream


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

    # --- cached generation: pixel by pixel for the forward direction, row by row for the backward one ----------
    # Forward: h(i, j) from the input at (i, j), h(i-1, j), h(i, j-1) and the cell c(i, j-1). Backward (mirrored,
    # shifted down): row i reads the backward states of row i-1, computed once that row is finished.

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        device = self.output.weight.device
        _, h, w = self.shape
        f = self.config.channels

        def grid(channels: int) -> Tensor:
            return torch.zeros(n, h, w, channels, device=device)

        layers = len(self.recurrent)
        return {
            **self.new_row_cache(n, cond),
            "h": [grid(f) for _ in range(layers)],
            "c": [grid(f) for _ in range(layers)],
            "back": [grid(f) for _ in range(layers)],  # backward-direction states, finished rows
            "stream": [grid(2 * f) for _ in range(layers)],  # each layer's input, finished pixels
            "done": 0,  # pixels finished, in raster order
        }

    def _pixel(self, cache: dict[str, Any], i: int, j: int, keep: bool) -> Tensor:
        """The residual stream at pixel (i, j): (n, 2h, 1, 1); with `keep`, the pixel is complete and its states
        are stored."""
        reach = self.first.kernel_size[0] // 2
        rows = self.encode(cache["x"][:, :, max(0, i - reach) : i + 1])
        stream = self.first(rows)[:, :, -1:, j : j + 1]
        for k, (layer, residual) in enumerate(zip(self.recurrent, self.residual, strict=True)):
            lstm = layer.forward_direction
            if keep:
                cache["stream"][k][:, i, j] = stream[:, :, 0, 0]
            gates = lstm.input_to_state(stream)[:, :, 0, 0]
            zero = torch.zeros_like(cache["h"][k][:, 0, 0])
            up = cache["h"][k][:, i - 1, j] if i else zero
            left, cell = (cache["h"][k][:, i, j - 1], cache["c"][k][:, i, j - 1]) if j else (zero, zero)
            h, c = lstm_update(gates + lstm.state_to_state(torch.cat([up, left], dim=-1)), cell)
            if keep:
                cache["h"][k][:, i, j], cache["c"][k][:, i, j] = h, c
            back = cache["back"][k][:, i - 1, j] if i else zero
            stream = stream + residual((h + back)[:, :, None, None])
        return stream

    def _backward_row(self, cache: dict[str, Any], i: int) -> None:
        """Backward-direction states of the finished row i, right to left, for every layer."""
        width = self.shape[2]
        for k, layer in enumerate(self.recurrent):
            lstm = layer.backward_direction
            gates = lstm.input_to_state(cache["stream"][k][:, i].permute(0, 2, 1)[:, :, None])[:, :, 0]
            if layer.pixels_to_state is not None:
                gates = gates + layer.pixels_to_state(self.encode(cache["x"][:, :, i : i + 1]))[:, :, 0]
            zero = torch.zeros_like(cache["back"][k][:, 0, 0])
            h, c = zero, zero
            for j in reversed(range(width)):
                up = cache["back"][k][:, i - 1, j] if i else zero
                h, c = lstm_update(gates[:, :, j] + lstm.state_to_state(torch.cat([up, h], dim=-1)), c)
                cache["back"][k][:, i, j] = h

    def cache_step(self, cache: dict[str, Any], previous: Tensor | None) -> Tensor:
        t, width = cache["t"], self.shape[2]
        if previous is not None:
            index = torch.unravel_index(self.order[t - 1], self.shape)
            cache["x"][(slice(None), *index)] = previous.to(cache["x"].device)
        channel, row, col = (int(i) for i in torch.unravel_index(self.order[t], self.shape))
        while cache["done"] < row * width + col:  # finish the pixels before this one
            i, j = divmod(cache["done"], width)
            self._pixel(cache, i, j, keep=True)
            if j == width - 1:
                self._backward_row(cache, i)
            cache["done"] += 1
        stream = self._pixel(cache, row, col, keep=False)
        params = self.to_params(self.output(torch.relu(self.hidden(torch.relu(stream)))))
        cache["t"] = t + 1
        return self.head.log_probs_at(params, cache["x"][:, :, row : row + 1, col : col + 1], (channel, 0, 0))
