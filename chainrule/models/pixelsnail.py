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

from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.distributions import DiscretizedLogisticMixture
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import ConditionEmbedding, MixtureImageModel, check_mixture_config
from chainrule.nn.attention import CausalImageAttention
from chainrule.nn.gated_resnet import GatedResNet, concat_elu
from chainrule.nn.shifted_conv import DownRightShiftedConv2d, DownShiftedConv2d, down_shift, last_row, right_shift


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

    def __post_init__(self) -> None:
        check_mixture_config(self)
        if self.blocks < 1 or self.resnets < 0 or self.heads < 1:
            raise ConfigError(f"blocks={self.blocks} ≥ 1, resnets={self.resnets} ≥ 0 and heads={self.heads} ≥ 1")
        if self.key_channels % self.heads or self.value_channels % self.heads:
            raise ConfigError(f"key_channels and value_channels must be multiples of heads={self.heads}")

    def footprint(self) -> Footprint:
        colours, f = self.shape[0], self.channels
        condition = embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f
        keys, values = self.key_channels, self.value_channels
        attention = conv(f + 2, keys, 1, 1) + conv(f + colours + 2, keys + values, 1, 1) + keys + values
        merge = conv(2 * f, f, 1, 1) + conv(2 * values, f, 1, 1) + conv(2 * f, 2 * f, 1, 1)
        block = (
            self.resnets * (conv(2 * f, f, 2, 2) + conv(2 * f, 2 * f, 2, 2))
            + (self.resnets + 1) * condition
            + attention
            + merge
        )
        per_position = DiscretizedLogisticMixture(self.levels, self.components, colours).params_per_position
        weights = conv(colours + 3, f, 1, 3) + conv(colours + 3, f, 2, 1) + self.blocks * block + conv(f, per_position)
        return masked_network(weights, modules=6 + self.blocks * (12 + 8 * self.resnets))


def positions(height: int, width: int, device: torch.device) -> Tensor:
    """(2, H, W): each pixel's row and column, scaled to [-1, 1]."""
    rows = torch.linspace(-1, 1, height, device=device)
    cols = torch.linspace(-1, 1, width, device=device)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"))


class SnailBlock(nn.Module):
    """Local gated residual blocks, then causal attention merged back by a 1x1 gated residual block."""

    def __init__(self, config: PixelSNAILConfig, colours: int) -> None:
        super().__init__()
        f = config.channels
        down_right = partial(DownRightShiftedConv2d, kernel=(2, 2))
        self.local = nn.ModuleList(GatedResNet(f, down_right, 0, config.dropout) for _ in range(config.resnets))
        self.conditions = nn.ModuleList(
            ConditionEmbedding(config.num_classes, config.cond_dim, 2 * f) for _ in range(config.resnets + 1)
        )
        self.attention = CausalImageAttention(
            f + 2, f + colours + 2, config.key_channels, config.value_channels, config.heads
        )
        self.merge = GatedResNet(f, partial(nn.Conv2d, kernel_size=1), config.value_channels, config.dropout)

    def forward(self, ul: Tensor, pixels: Tensor, where: Tensor, cond: Tensor | None) -> Tensor:
        for block, condition in zip(self.local, self.conditions[:-1], strict=True):
            ul = block(ul, condition=condition(cond))
        attended = self.attention(torch.cat([ul, where], dim=1), torch.cat([ul, pixels, where], dim=1))
        return self.merge(ul, attended, self.conditions[-1](cond))


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
        f, c = config.channels, self.colours + 3
        self.init_above = DownShiftedConv2d(c, f, (1, 3))
        self.init_left = DownRightShiftedConv2d(c, f, (2, 1))
        self.blocks = nn.ModuleList(SnailBlock(config, self.colours) for _ in range(config.blocks))
        self.output = nn.Conv2d(f, self.out_channels, 1)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        b, _, h, w = x.shape
        where = positions(h, w, x.device).expand(b, -1, -1, -1)
        pixels = self.encode(x)
        x_in = torch.cat([self.network_input(x), where], dim=1)
        ul = down_shift(self.init_above(x_in)) + right_shift(self.init_left(x_in))
        for block in self.blocks:
            ul = block(ul, pixels, where, cond)
        return self.to_params(self.output(F.elu(ul)))

    # --- cached generation: per-layer rows above, attention keys/values of finished rows --------------------------

    cache_step = MixtureImageModel.row_cache_step  # rows, not yet positions

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        """Generation state: the image so far; for every 2-row convolution the input row above the current one;
        for every attention the keys/values of all finished rows. A step computes the current row only and its
        attention reads the cached keys instead of recomputing the whole prefix."""
        return {
            **self.new_row_cache(n, cond),
            "above": {},  # name → the input row of a convolution at the row above, (n, C, 1, W)
            "kv": [[] for _ in self.blocks],  # per block: the keys/values of finished rows, (n, Ckv, W) each
        }

    def _conv_row(self, cache: dict[str, Any], name: str, conv: nn.Module, current: Tensor, keep: bool) -> Tensor:
        """A down-right / down-shifted convolution of height ≤ 2 on the current row, reading the cached row above."""
        above = cache["above"].get(name, torch.zeros_like(current))
        if keep:
            cache["above"][name] = current
        return last_row(conv, torch.cat([above, current], dim=2))

    def _resnet_row(self, cache, name, block: GatedResNet, x, keep, a=None, condition=0.0) -> Tensor:
        c = self._conv_row(cache, name + ".first", block.first, concat_elu(x), keep)
        if block.aux is not None:
            c = c + block.aux(concat_elu(a))
        y, g = (self._conv_row(cache, name + ".second", block.second, concat_elu(c), keep) + condition).chunk(2, 1)
        return x + y * torch.sigmoid(g)

    def cache_row(self, cache: dict[str, Any], row: int, keep: bool) -> Tensor:
        n, (_, height, width), cond = cache["x"].shape[0], self.shape, cache["cond"]
        where = positions(height, width, cache["x"].device)[:, row : row + 1].expand(n, -1, -1, -1)
        pixels = self.encode(cache["x"][:, :, row : row + 1])
        x_in = torch.cat([self.network_input(cache["x"][:, :, row : row + 1]), where], dim=1)
        above = cache["above"].get("x_in")
        ul = right_shift(self._conv_row(cache, "x_in", self.init_left, x_in, keep))
        if above is not None:  # the down-shifted start reads the row above only
            ul = ul + self.init_above(above)
        for b, block in enumerate(self.blocks):
            for r, (resnet, condition) in enumerate(zip(block.local, block.conditions[:-1], strict=True)):
                ul = self._resnet_row(cache, f"{b}.{r}", resnet, ul, keep, condition=condition(cond))
            ul = block.merge(ul, self._attend_row(cache, b, block, ul, pixels, where, keep), block.conditions[-1](cond))
        return ul

    def _attend_row(self, cache, b: int, block: SnailBlock, ul, pixels, where, keep: bool) -> Tensor:
        """The attention output on the current row: each pixel reads the start entry, the cached rows and the
        pixels before it in this row."""
        attention = block.attention
        n, _, _, width = ul.shape
        q = attention.query(torch.cat([ul, where], dim=1)).flatten(2)
        kv_row = attention.key_value(torch.cat([ul, pixels, where], dim=1)).flatten(2)
        start = attention.start.to(kv_row.dtype)[None, :, None].expand(n, -1, 1)
        kv = torch.cat([start, *cache["kv"][b], kv_row], dim=2)  # entry s + 1 holds position s
        if keep:
            cache["kv"][b].append(kv_row)
        k, v = kv.split([attention.key_channels, kv.shape[1] - attention.key_channels], dim=1)
        seen = kv.shape[2] - width  # entries every query of this row may read; query j adds j more
        mask = (
            torch.arange(kv.shape[2], device=ul.device)[None, :] < seen + torch.arange(width, device=ul.device)[:, None]
        )
        heads = attention.split_heads
        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask)
        return out.transpose(2, 3).reshape(n, -1, 1, width)
