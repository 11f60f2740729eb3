"""PixelCNN (van den Oord, Kalchbrenner, Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", arXiv 1601.06759).

A 7x7 masked convolution of type A, residual blocks (1x1 down to h channels, 3x3 masked type B, 1x1 back up to 2h,
each after a ReLU), then two 1x1 layers to the head: a K-way softmax per sub-pixel (Bernoulli for binary data).
Colour channels are predicted R → G → B inside a pixel through the channel-group masks of every layer.

The stacked 3x3 masks leave a blind spot: pixels up and to the right of the current one that precede it in the
raster order but never reach it (fixed by Gated PixelCNN). Deviation: an optional class embedding added after the
first layer, as a bias, for class-conditional runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from chainrule.distributions import discrete_head
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import ConditionEmbedding, ImageModel, PixelCache, check_image_config
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED, Pointwise, PositionState


@dataclass(frozen=True)
class PixelCNNConfig:
    """PixelCNN hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: h; the residual stream has 2h channels (multiples of C).
        blocks: residual blocks.
        kernel: kernel of the masked convolutions inside the blocks (odd).
        first_kernel: kernel of the type-A first layer (odd).
        hidden: width of the first 1x1 output layer (multiple of C).
        num_classes: > 0 for a class-conditional model.
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 64
    blocks: int = 7
    kernel: int = 3
    first_kernel: int = 7
    hidden: int = 256
    num_classes: int = 0

    def __post_init__(self) -> None:
        check_image_config(self.shape, self.levels, {"channels": self.channels, "hidden": self.hidden})

    def footprint(self) -> Footprint:
        c, h, per_dim = self.shape[0], self.channels, discrete_head(self.levels)[1]
        block = conv(2 * h, h, 1, 1) + conv(h, h, self.kernel, self.kernel) + conv(h, 2 * h, 1, 1)
        weights = (
            conv(c, 2 * h, self.first_kernel, self.first_kernel)
            + embedding(self.num_classes, 2 * h)
            + self.blocks * block
            + conv(2 * h, self.hidden, 1, 1)
            + conv(self.hidden, c * per_dim, 1, 1)
        )
        return masked_network(weights, modules=8 + 4 * self.blocks, masks=weights)


class ResidualBlock(nn.Module):
    """ReLU, 1x1 (2h → h), ReLU, k×k masked B (h → h), ReLU, 1x1 (h → 2h), plus the input."""

    def __init__(self, channels: int, kernel: int, colours: int) -> None:
        super().__init__()
        self.reduce = MaskedConv2d(2 * channels, channels, 1, "B", colours)
        self.conv = MaskedConv2d(channels, channels, kernel, "B", colours)
        self.expand = MaskedConv2d(channels, 2 * channels, 1, "B", colours)

    def forward(self, x: Tensor) -> Tensor:
        h = self.reduce(torch.relu(x))
        h = self.conv(torch.relu(h))
        return x + self.expand(torch.relu(h))

    def init_step(self, n: int, height: int, width: int) -> ResidualBlockState:
        return ResidualBlockState(
            self.conv.init_step(n, height, width), self.reduce.as_pointwise(), self.expand.as_pointwise()
        )

    def step(self, state: ResidualBlockState, j: int, x: Tensor) -> Tensor:
        """The block at column j of the current row (after `conv.begin_row`): (n, 2h) → (n, 2h)."""
        h = self.conv.step(state.conv, j, torch.relu(state.reduce(torch.relu(x))))
        return x + state.expand(torch.relu(h))


@dataclass
class ResidualBlockState:
    conv: PositionState
    reduce: Pointwise = field(metadata=SHARED)
    expand: Pointwise = field(metadata=SHARED)


@register(
    "pixelcnn",
    config=PixelCNNConfig,
    kind="image",
    colour_fields=("channels", "hidden"),
    tiny=dict(channels=6, blocks=2, kernel=3, first_kernel=3, hidden=12),
    presets={
        "cpu": dict(channels=32, blocks=6, first_kernel=7, hidden=96, train=dict(batch_size=32, lr=2e-3)),
        "paper": dict(channels=128, blocks=15, first_kernel=7, hidden=1024, train=dict(batch_size=16, lr=3e-4)),
    },
)
class PixelCNN(ImageModel):
    """long (B, C, H, W) → head params (B, C, H, W, P)."""

    def __init__(self, config: PixelCNNConfig) -> None:
        super().__init__(config)
        c, h = self.colours, config.channels
        self.first = MaskedConv2d(c, 2 * h, config.first_kernel, "A", c)
        self.condition = ConditionEmbedding(config.num_classes, 0, 2 * h)
        self.blocks = nn.ModuleList(ResidualBlock(h, config.kernel, c) for _ in range(config.blocks))
        self.hidden = MaskedConv2d(2 * h, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, self.out_channels, 1, "B", c)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.first(self.encode(x)) + self.condition(cond)
        for block in self.blocks:
            h = block(h)
        return self.to_params(self.output(torch.relu(self.hidden(torch.relu(h)))))

    # --- generation: per row the rows-above part of each masked convolution, per position one position each ----

    def init_layers(self, n: int, cond: Tensor | None) -> PixelCNNCache:
        _, height, width = self.shape
        condition = self.condition(cond)
        return PixelCNNCache(
            first=self.first.init_step(n, height, width),
            condition=condition[:, None, :, 0, 0] if isinstance(condition, Tensor) else None,
            blocks=[block.init_step(n, height, width) for block in self.blocks],
            head=(self.hidden.as_pointwise(), self.output.as_pointwise()),
        )

    def begin_row(self, cache: PixelCache, i: int) -> None:
        state = cache.layers
        finished = self.encode(cache.x[:, :, i - 1]) if i else None
        self.first.begin_row(state.first, i, state.condition, finished)
        for block, block_state in zip(self.blocks, state.blocks, strict=True):
            block.conv.begin_row(block_state.conv, i)

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:
        state = cache.layers
        s = self.first.step_on_row(state.first, j, self.encode(cache.x[:, :, i]))
        for block, block_state in zip(self.blocks, state.blocks, strict=True):
            s = block.step(block_state, j, s)
        return self.pointwise_head(state.head, s)


@dataclass
class PixelCNNCache:
    first: PositionState
    condition: Tensor | None  # (n, 1, 2h): the class bias after the first layer
    blocks: list[ResidualBlockState]
    head: tuple[Pointwise, Pointwise] = field(metadata=SHARED)
