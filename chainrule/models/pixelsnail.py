"""PixelSNAIL (Chen, Mishra, Rohaninejad, Abbeel 2018, "PixelSNAIL: An Improved Autoregressive Generative Model",
arXiv 1712.09763).

One down-right stream (each position sees the pixels before it in raster order), started as in PixelCNN++, then
`blocks` blocks of: `resnets` gated residual blocks of 2x2 down-right-shifted convolutions (local context), and
causal multi-head self-attention in which each pixel reads every earlier pixel (global context, so no blind spot).
Queries come from [stream, position]; keys and values from [stream, pixels, position], where position is the
(row, column) of each pixel scaled to [-1, 1]. A 1x1 gated residual block merges the attention output into the
stream. The same discretized logistic mixture head as PixelCNN++.

Deviations: queries, keys and values are 1x1 projections of those inputs (the paper passes them through gated
residual blocks first); no separate skip path from the stream input to each block's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.data.condition import Condition
from chainrule.distributions import DiscretizedLogisticMixture, discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import (
    ConditionEmbedding,
    Context,
    MixtureImageModel,
    PixelCache,
    bias_at,
    bias_rows,
    check_map_config,
    check_mixture_config,
)
from chainrule.nn.attention import AttentionState, CausalImageAttention
from chainrule.nn.gated_resnet import GatedResNet, GatedResNetState
from chainrule.nn.map_network import map_network_weights
from chainrule.nn.raster_step import SHARED, Pointwise
from chainrule.nn.shifted_conv import (
    DownRightShiftedConv2d,
    DownShiftedConv2d,
    StreamStartState,
    down_shift,
    right_shift,
    start_at,
    start_row,
    start_state,
)


@dataclass(frozen=True)
class PixelSNAILConfig:
    """PixelSNAIL hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: feature maps of the stream.
        blocks: residual + attention blocks.
        resnets: gated residual blocks in each block.
        heads, key_channels, value_channels: the attention (widths over all heads).
        components: logistic mixture components.
        dropout: inside every residual block.
        num_classes / cond_dim: class-conditional / vector-conditional when > 0.
        objective: "discrete" or "dequantized" (see PixelCNN++).
        embed: > 0 for VQ-VAE codes (shape (1, h, w)): the width of a learned embedding of each code, read in place
            of scaled values, and a K-way softmax head in place of the mixture.
        map_shape, map_levels, map_channels: a spatial conditioning map (as Gated PixelCNN's), added to every gated
            residual block's gates.
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 256
    blocks: int = 12
    resnets: int = 4
    heads: int = 1
    key_channels: int = 16
    value_channels: int = 128
    components: int = 10
    dropout: float = 0.0
    num_classes: int = 0
    cond_dim: int = 0
    objective: str = "discrete"
    embed: int = 0
    map_shape: tuple[int, ...] = ()
    map_levels: int = 0
    map_channels: int = 32

    def __post_init__(self) -> None:
        check_mixture_config(self, self.embed)
        check_map_config(self.shape, self.map_shape, self.map_levels, self.map_channels)
        if self.blocks < 1 or self.resnets < 0 or self.heads < 1:
            raise ConfigError(f"blocks={self.blocks} ≥ 1, resnets={self.resnets} ≥ 0 and heads={self.heads} ≥ 1")
        if self.key_channels % self.heads or self.value_channels % self.heads:
            raise ConfigError(f"key_channels and value_channels must be multiples of heads={self.heads}")

    def footprint(self) -> Footprint:
        colours, f = self.embed or self.shape[0], self.channels  # the encoded input's channels
        m = self.map_channels if self.map_shape else 0
        condition = embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f + m * 2 * f
        keys, values = self.key_channels, self.value_channels
        attention = conv(f + 2, keys, 1, 1) + conv(f + colours + 2, keys + values, 1, 1) + keys + values
        merge = conv(2 * f, f, 1, 1) + conv(2 * values, f, 1, 1) + conv(2 * f, 2 * f, 1, 1)
        block = (
            self.resnets * (conv(2 * f, f, 2, 2) + conv(2 * f, 2 * f, 2, 2))
            + (self.resnets + 1) * condition
            + attention
            + merge
        )
        if self.embed:  # codes: the discrete head (a K-way softmax; Bernoulli for K = 2)
            per_position = discrete_head(self.levels)[1]
        else:
            per_position = DiscretizedLogisticMixture(self.levels, self.components, colours).params_per_position
        weights = conv(colours + 3, f, 1, 3) + conv(colours + 3, f, 2, 1) + self.blocks * block + conv(f, per_position)
        weights += embedding(self.levels, self.embed) + (
            map_network_weights(self.map_shape[0], self.map_levels, m) if m else 0
        )
        return masked_network(weights, modules=14 + self.blocks * (14 + 9 * self.resnets))


def positions(height: int, width: int, device: torch.device) -> Tensor:
    """(2, H, W): each pixel's row and column, scaled to [-1, 1]."""
    rows = torch.linspace(-1, 1, height, device=device)
    cols = torch.linspace(-1, 1, width, device=device)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"))


class SnailBlock(nn.Module):
    """Local gated residual blocks, then causal attention merged back by a 1x1 gated residual block."""

    def __init__(self, config: PixelSNAILConfig, colours: int, map_channels: int = 0) -> None:
        super().__init__()
        f = config.channels
        down_right = partial(DownRightShiftedConv2d, kernel=(2, 2))
        self.local = nn.ModuleList(GatedResNet(f, down_right, 0, config.dropout) for _ in range(config.resnets))
        self.conditions = nn.ModuleList(
            ConditionEmbedding(config.num_classes, config.cond_dim, 2 * f, map_channels)
            for _ in range(config.resnets + 1)
        )
        self.attention = CausalImageAttention(
            f + 2, f + colours + 2, config.key_channels, config.value_channels, config.heads
        )
        self.merge = GatedResNet(f, partial(nn.Conv2d, kernel_size=1), config.value_channels, config.dropout)

    def forward(self, ul: Tensor, pixels: Tensor, where: Tensor, cond: Context | None) -> Tensor:
        for block, condition in zip(self.local, self.conditions[:-1], strict=True):
            ul = block(ul, condition=condition(cond))
        attended = self.attention(torch.cat([ul, where], dim=1), torch.cat([ul, pixels, where], dim=1))
        return self.merge(ul, attended, self.conditions[-1](cond))

    def init_step(self, n: int, height: int, width: int, cond: Context | None) -> SnailBlockState:
        return SnailBlockState(
            local=[block.init_step(n, height, width) for block in self.local],
            conditions=[bias_rows(condition(cond)) for condition in self.conditions],
            attention=self.attention.init_step(n, height * width),
            merge=self.merge.init_step(n, height, width),
            last=None,
        )

    def begin_row(self, state: SnailBlockState, i: int) -> None:
        state.row = i
        for block, block_state in zip(self.local, state.local, strict=True):
            block.begin_row(block_state, i)

    def step(self, state: SnailBlockState, j: int, ul: Tensor, where: Tensor, previous: Tensor | None) -> Tensor:
        """The block at column j of the current row: ul (n, F), where (n, 2), and the previous pixel's values and
        position (n, C + 2), None at the first pixel → (n, F)."""
        biases = [bias_at(b, state.row, j) for b in state.conditions]  # (n, 2F) at this position
        for block, block_state, condition in zip(self.local, state.local, biases[:-1], strict=True):
            ul = block.step(block_state, j, ul, condition=condition)
        if previous is not None:
            self.attention.append(state.attention, torch.cat([state.last, previous], dim=1))
        state.last = ul
        attended = self.attention.step(state.attention, torch.cat([ul, where], dim=1))
        return self.merge.step(state.merge, j, ul, attended, biases[-1])


@dataclass
class SnailBlockState:
    local: list[GatedResNetState]
    conditions: list[Tensor | None]  # (n, 1 or H, 1 or W, 2F) per gated block: the condition's bias (`bias_rows`)
    attention: AttentionState
    merge: GatedResNetState
    last: Tensor | None  # (n, F): the attention's source stream at the previous pixel
    row: int = 0  # the row being generated


@register(
    "pixelsnail",
    config=PixelSNAILConfig,
    kind="image",
    tiny=dict(channels=6, blocks=1, resnets=1, heads=2, key_channels=4, value_channels=4, components=2),
    presets={
        "cpu": dict(
            channels=32,
            blocks=2,
            resnets=2,
            heads=2,
            key_channels=16,
            value_channels=32,
            components=5,
            train=dict(batch_size=32, lr=2e-3),
        ),
        "paper": dict(
            channels=256,
            blocks=12,
            resnets=4,
            heads=1,
            key_channels=16,
            value_channels=128,
            components=10,
            dropout=0.0,
            train=dict(batch_size=32, lr=3e-4, ema=0.9995),
        ),
    },
)
class PixelSNAIL(MixtureImageModel):
    """long (B, C, H, W) [+ cond] → mixture params."""

    def __init__(self, config: PixelSNAILConfig) -> None:
        super().__init__(config)
        f, c = config.channels, self.input_channels + 3
        self.init_above = DownShiftedConv2d(c, f, (1, 3))
        self.init_left = DownRightShiftedConv2d(c, f, (2, 1))
        self.blocks = nn.ModuleList(
            SnailBlock(config, self.input_channels, self.map_channels) for _ in range(config.blocks)
        )
        self.output = nn.Conv2d(f, self.out_channels, 1)

    def forward(self, x: Tensor, cond: Tensor | Condition | None = None) -> Tensor:
        b, _, h, w = x.shape
        context = self.context(cond)
        where = positions(h, w, x.device).expand(b, -1, -1, -1)
        pixels = self.encode(x)
        x_in = torch.cat([self.network_input(x), where], dim=1)
        ul = down_shift(self.init_above(x_in)) + right_shift(self.init_left(x_in))
        for block in self.blocks:
            ul = block(ul, pixels, where, context)
        return self.to_params(self.output(F.elu(ul)))

    # --- generation: one position per layer; attention reads the keys and values appended so far -------------

    def init_layers(self, n: int, cond: Tensor | None) -> SnailCache:
        _, height, width = self.shape
        context = self.context(cond)
        device = self.output.weight.device
        return SnailCache(
            where=positions(height, width, device),
            start=start_state(self.init_above, self.init_left, n, height, width),
            blocks=[block.init_step(n, height, width, context) for block in self.blocks],
            output=Pointwise.of(self.output),
        )

    def row_input(self, cache: PixelCache, i: int) -> Tensor:
        """The network's input on row i: (n, C + 3, W)."""
        where = cache.layers.where[:, i].expand(cache.x.shape[0], -1, -1)
        return torch.cat([self.network_input(cache.x[:, :, i]), where], dim=1)

    def begin_row(self, cache: PixelCache, i: int) -> None:
        state = cache.layers
        start_row(self.init_above, self.init_left, state.start, i, self.row_input(cache, i - 1) if i else None)
        for block, block_state in zip(self.blocks, state.blocks, strict=True):
            block.begin_row(block_state, i)

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:
        state = cache.layers
        where = state.where[:, i, j].expand(cache.x.shape[0], -1)
        ul = start_at(self.init_left, state.start, j, self.row_input(cache, i))
        t = i * self.shape[2] + j
        if t:  # the pixel before this one is complete: its keys and values join every attention
            pi, pj = divmod(t - 1, self.shape[2])
            previous = torch.cat([self.encode(cache.x[:, :, pi, pj]), state.where[:, pi, pj].expand_as(where)], dim=1)
        else:
            previous = None
        for block, block_state in zip(self.blocks, state.blocks, strict=True):
            ul = block.step(block_state, j, ul, where, previous)
        out = state.output(F.elu(ul))
        return self.to_params(out[:, :, None, None])


@dataclass
class SnailCache:
    where: Tensor = field(metadata=SHARED)  # (2, H, W) positions
    start: StreamStartState
    blocks: list[SnailBlockState]
    output: Pointwise = field(metadata=SHARED)
