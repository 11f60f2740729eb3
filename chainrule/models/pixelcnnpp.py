"""PixelCNN++ (Salimans, Karpathy, Chen, Kingma 2017, "PixelCNN++: Improving the PixelCNN with Discretized Logistic
Mixture Likelihood and Other Modifications", arXiv 1701.05517).

Two streams: `u` (down-shifted convolutions: rows above) and `ul` (down-right-shifted: rows above and the row so
far), which together cover the whole causal context (no blind spot). An up pass of gated residual blocks
(concat-ELU, dropout) over `scales` resolutions, each halving the previous one with strided convolutions, keeps
every block's output; a down pass goes back up in resolution with transposed convolutions, each block taking the
matching up-pass output as a short-cut (`u` from `u`, `ul` from `[u, ul]`). A 1x1 layer on ELU(ul) gives the
discretized logistic mixture; colour channels are coupled inside the pixel by the head (R → G → B).

Deviation: the down pass has `resnets + 1` blocks at every scale (each consumes one up-pass output; the paper's
code has `resnets` at the coarsest scale); conditioning adds a per-block embedding of the class id or vector.
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
from chainrule.nn.gated_resnet import GatedResNet, concat_elu
from chainrule.nn.shifted_conv import (
    DownRightShiftedConv2d,
    DownRightShiftedDeconv2d,
    DownShiftedConv2d,
    DownShiftedDeconv2d,
    down_shift,
    last_row,
    right_shift,
)


@dataclass(frozen=True)
class PixelCNNPPConfig:
    """PixelCNN++ hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: feature maps of both streams.
        resnets: gated residual blocks per scale in the up pass (resnets + 1 in the down pass).
        scales: resolutions (each after the first halves height and width).
        components: logistic mixture components.
        dropout: inside every residual block.
        num_classes / cond_dim: class-conditional / vector-conditional when > 0.
        objective: "discrete" (discretized likelihood) or "dequantized" (continuous density of x + U[0, 1)).
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 160
    resnets: int = 5
    scales: int = 3
    components: int = 10
    dropout: float = 0.5
    num_classes: int = 0
    cond_dim: int = 0
    objective: str = "discrete"

    def __post_init__(self) -> None:
        check_mixture_config(self)
        if self.resnets < 1 or self.scales < 1:
            raise ConfigError(f"resnets={self.resnets} and scales={self.scales} must be ≥ 1")

    def footprint(self) -> Footprint:
        colours, f = self.shape[0], self.channels
        c, condition = colours + 1, 2 * (embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f)

        def pair(shortcuts: int) -> int:
            u = conv(2 * f, f, 2, 3) + conv(2 * f, 2 * f, 2, 3) + (conv(2 * shortcuts * f, f) if shortcuts else 0)
            ul = conv(2 * f, f, 2, 2) + conv(2 * f, 2 * f, 2, 2) + conv(2 * (shortcuts + 1) * f, f)
            return u + ul + condition

        between = self.scales - 1
        weights = (
            conv(c, f, 2, 3)
            + conv(c, f, 1, 3)
            + conv(c, f, 2, 1)
            + self.scales * (self.resnets * pair(0) + (self.resnets + 1) * pair(1))
            + between * 2 * (conv(f, f, 2, 3) + conv(f, f, 2, 2))
            + conv(f, DiscretizedLogisticMixture(self.levels, self.components, colours).params_per_position, 1, 1)
        )
        return masked_network(weights, modules=8 + 4 * between + 16 * self.scales * (2 * self.resnets + 1))


class StreamPair(nn.Module):
    """One gated residual block of each stream: u reads its short-cut, ul reads [u, its short-cut]."""

    def __init__(self, channels: int, dropout: float, shortcuts: int, num_classes: int, cond_dim: int) -> None:
        super().__init__()
        down = partial(DownShiftedConv2d, kernel=(2, 3))
        down_right = partial(DownRightShiftedConv2d, kernel=(2, 2))
        self.u = GatedResNet(channels, down, shortcuts * channels, dropout)
        self.ul = GatedResNet(channels, down_right, (shortcuts + 1) * channels, dropout)
        self.u_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels)
        self.ul_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels)

    def forward(
        self, u: Tensor, ul: Tensor, cond: Tensor | None, u_skip: Tensor | None = None, ul_skip: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        u = self.u(u, u_skip, self.u_cond(cond))
        ul_aux = u if ul_skip is None else torch.cat([u, ul_skip], dim=1)
        return u, self.ul(ul, ul_aux, self.ul_cond(cond))


@register(
    "pixelcnn++",
    config=PixelCNNPPConfig,
    kind="image",
    tiny=dict(channels=6, resnets=1, scales=2, components=2, dropout=0.0),
    presets={
        "cpu": dict(channels=32, resnets=1, scales=3, components=5, dropout=0.0, train=dict(batch_size=32, lr=2e-3)),
        "paper": dict(
            channels=160,
            resnets=5,
            scales=3,
            components=10,
            dropout=0.5,
            train=dict(batch_size=64, lr=1e-3, ema=0.9995),
        ),
    },
)
class PixelCNNPP(MixtureImageModel):
    """long (B, C, H, W) [+ cond] → mixture params."""

    def __init__(self, config: PixelCNNPPConfig) -> None:
        super().__init__(config)
        f, c = config.channels, self.colours + 1
        self.u_init = DownShiftedConv2d(c, f, (2, 3))
        self.ul_init_above = DownShiftedConv2d(c, f, (1, 3))
        self.ul_init_left = DownRightShiftedConv2d(c, f, (2, 1))
        pair = partial(StreamPair, f, config.dropout, num_classes=config.num_classes, cond_dim=config.cond_dim)
        self.up = nn.ModuleList(
            nn.ModuleList(pair(shortcuts=0) for _ in range(config.resnets)) for _ in range(config.scales)
        )
        self.down = nn.ModuleList(
            nn.ModuleList(pair(shortcuts=1) for _ in range(config.resnets + 1)) for _ in range(config.scales)
        )
        between = config.scales - 1
        self.u_shrink = nn.ModuleList(DownShiftedConv2d(f, f, (2, 3), stride=2) for _ in range(between))
        self.ul_shrink = nn.ModuleList(DownRightShiftedConv2d(f, f, (2, 2), stride=2) for _ in range(between))
        self.u_grow = nn.ModuleList(DownShiftedDeconv2d(f, f, (2, 3)) for _ in range(between))
        self.ul_grow = nn.ModuleList(DownRightShiftedDeconv2d(f, f) for _ in range(between))
        self.output = nn.Conv2d(f, self.out_channels, 1)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        x_in = self.network_input(x)
        u = down_shift(self.u_init(x_in))
        ul = down_shift(self.ul_init_above(x_in)) + right_shift(self.ul_init_left(x_in))
        us, uls = [u], [ul]
        for scale, blocks in enumerate(self.up):
            if scale:
                u, ul = self.u_shrink[scale - 1](u), self.ul_shrink[scale - 1](ul)
                us.append(u)
                uls.append(ul)
            for block in blocks:
                u, ul = block(u, ul, cond)
                us.append(u)
                uls.append(ul)
        for depth, blocks in enumerate(self.down):  # coarsest scale first
            scale = len(self.down) - 1 - depth
            for block in blocks:
                u, ul = block(u, ul, cond, us.pop(), uls.pop())
            if scale:
                size = us[-1].shape[-2:]
                u, ul = self.u_grow[scale - 1](u, size), self.ul_grow[scale - 1](ul, size)
        return self.to_params(self.output(F.elu(ul)))

    # --- cached generation --------------------------------------------------------------------------------------
    # A coarse row q at scale s depends on fine rows ≤ q·2^s only (strided convolutions read rows 2q-1, 2q; the
    # transposed ones give fine row r from coarse row r // 2). So, generating fine row i, every scale has one current
    # row, i >> s; everything above it is final and kept per convolution input, and a step computes one row per
    # scale and layer. When fine row i is complete, the rows it computed are kept.

    cache_step = MixtureImageModel.row_cache_step  # rows, not yet positions

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        return {
            **self.new_row_cache(n, cond),
            "rows": {},  # (name, row) → a kept row (n, C, 1, W_s)
        }

    def cache_row(self, cache: dict[str, Any], i: int, keep: bool) -> Tensor:
        now: dict[tuple[str, int], Tensor] = {}

        def row_of(name: str, r: int, like: Tensor) -> Tensor:
            if r < 0:
                return torch.zeros_like(like)
            return now[(name, r)] if (name, r) in now else cache["rows"][(name, r)]

        def conv2(name: str, conv: nn.Module, current: Tensor, r: int) -> Tensor:
            """A height-2 convolution at row r: its input row r-1 (kept) and row r (now)."""
            now[(name, r)] = current
            return last_row(conv, torch.cat([row_of(name, r - 1, current), current], dim=2))

        def resnet(name: str, block: GatedResNet, x: Tensor, r: int, a: Tensor | None, condition) -> Tensor:
            c = conv2(name + ".first", block.first, concat_elu(x), r)
            if block.aux is not None:
                c = c + block.aux(concat_elu(a))
            y, g = (conv2(name + ".second", block.second, concat_elu(c), r) + condition).chunk(2, dim=1)
            return x + y * torch.sigmoid(g)

        def pair(name: str, block: StreamPair, u: Tensor, ul: Tensor, r: int, u_skip=None, ul_skip=None):
            cond = cache["cond"]
            u = resnet(name + ".u", block.u, u, r, u_skip, block.u_cond(cond))
            aux = u if ul_skip is None else torch.cat([u, ul_skip], dim=1)
            return u, resnet(name + ".ul", block.ul, ul, r, aux, block.ul_cond(cond))

        def shrink(conv: nn.Module, upper: Tensor, lower: Tensor) -> Tensor:
            """A stride-2 convolution's output row q from its input rows 2q-1 and 2q."""
            return last_row(conv, torch.cat([upper, lower], dim=2))

        x = cache["x"]

        def x_in(r: int) -> Tensor:
            rows = x[:, :, max(r, 0) : max(r, 0) + 1]
            return self.network_input(rows) * (1.0 if r >= 0 else 0.0)

        f = self.config.channels
        zero = torch.zeros(x.shape[0], f, 1, self.shape[2], device=x.device)
        u = last_row(self.u_init, torch.cat([x_in(i - 2), x_in(i - 1)], dim=2)) if i else zero
        ul = right_shift(last_row(self.ul_init_left, torch.cat([x_in(i - 1), x_in(i)], dim=2)))
        if i:
            ul = ul + self.ul_init_above(x_in(i - 1))
        scales = len(self.up)
        for s, blocks in enumerate(self.up):
            r = i >> s
            if s:
                prev = f"up{s - 1}.{len(self.up[s - 1])}"
                u = shrink(self.u_shrink[s - 1], row_of(prev + ".u", 2 * r - 1, u), row_of(prev + ".u", 2 * r, u))
                ul = shrink(self.ul_shrink[s - 1], row_of(prev + ".ul", 2 * r - 1, ul), row_of(prev + ".ul", 2 * r, ul))
            now[(f"up{s}.0.u", r)], now[(f"up{s}.0.ul", r)] = u, ul
            for k, block in enumerate(blocks):
                u, ul = pair(f"up{s}.{k}.pair", block, u, ul, r)
                now[(f"up{s}.{k + 1}.u", r)], now[(f"up{s}.{k + 1}.ul", r)] = u, ul
        for depth, blocks in enumerate(self.down):
            s = scales - 1 - depth
            r = i >> s
            if depth:
                width = self.shape[2] if s == 0 else now[(f"up{s}.0.u", r)].shape[3]
                u = self.u_grow[s](u, (2, width))[:, :, r % 2 : r % 2 + 1]
                ul = self.ul_grow[s](ul, (2, width))[:, :, r % 2 : r % 2 + 1]
            for k, block in enumerate(blocks):
                skip = f"up{s}.{len(blocks) - 1 - k}"
                u, ul = pair(f"down{s}.{k}.pair", block, u, ul, r, now[(skip + ".u", r)], now[(skip + ".ul", r)])
        if keep:
            cache["rows"].update(now)
        return ul
