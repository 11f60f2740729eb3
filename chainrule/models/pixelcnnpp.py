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

from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.distributions import DiscretizedLogisticMixture
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import ConditionEmbedding, MixtureImageModel, PixelCache, check_mixture_config
from chainrule.nn.gated_resnet import GatedResNet, GatedResNetState
from chainrule.nn.raster_step import SHARED, Pointwise, PositionState, RowState
from chainrule.nn.shifted_conv import (
    DownRightShiftedConv2d,
    DownRightShiftedDeconv2d,
    DownShiftedConv2d,
    DownShiftedDeconv2d,
    StreamStartState,
    down_shift,
    right_shift,
    start_at,
    start_row,
    start_state,
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

    def init_step(self, n: int, height: int, width: int, cond: Tensor | None) -> PairState:
        u_bias, ul_bias = self.u_cond(cond), self.ul_cond(cond)
        return PairState(
            u=self.u.init_step(n, height, width),
            ul=self.ul.init_step(n, height, width),
            u_bias=u_bias[:, None, :, 0, 0] if isinstance(u_bias, Tensor) else None,
            ul_bias=ul_bias[:, :, 0, 0] if isinstance(ul_bias, Tensor) else None,
        )

    def u_row(self, state: PairState, q: int, u: Tensor, u_skip: Tensor | None = None) -> Tensor:
        """The u block on row q: (n, W, F) [+ its short-cut] → (n, W, F)."""
        return self.u.row_step(state.u, q, u, u_skip, state.u_bias)


@dataclass
class PairState:
    u: GatedResNetState
    ul: GatedResNetState
    u_bias: Tensor | None  # (n, 1, 2F): the condition's bias of the u block
    ul_bias: Tensor | None  # (n, 2F): of the ul block


@register(
    "pixelcnn++",
    config=PixelCNNPPConfig,
    kind="image",
    tiny=dict(channels=6, resnets=1, scales=2, components=2, dropout=0.0),
    presets={
        "cpu": dict(channels=32, resnets=1, scales=3, components=5, dropout=0.0, train=dict(batch_size=32, lr=2e-3)),
        # Ren et al. 2019's foreground and background models for likelihood ratios (arXiv 1906.02845): 32 filters,
        # 5 resnet blocks, one scale, one logistic, no dropout; batch 32 as theirs, a larger learning rate for a
        # CPU budget of minutes rather than their 50,000 steps at 1e-4
        "ren": dict(
            channels=32,
            resnets=5,
            scales=1,
            components=1,
            dropout=0.0,
            train=dict(batch_size=32, lr=1e-3),
        ),
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

    # --- generation: the u stream (rows above only) once per row at every scale, the ul stream one position per
    # layer. A coarse position (q, p) of scale s stands for the fine (q·2^s, p·2^s): it is computed at that fine
    # step (its inputs all precede it) and kept for the fine positions after it that read it. The strided
    # convolutions read every position of the finer grid and give an output at even ones; the transposed ones give
    # a fine position from the coarse one it lies in.

    def grid_sizes(self) -> list[tuple[int, int]]:
        """(H_s, W_s) of every scale (each halves the previous one, rounding up)."""
        sizes = [tuple(self.shape[1:])]
        for _ in range(1, len(self.up)):
            h, w = sizes[-1]
            sizes.append(((h + 1) // 2, (w + 1) // 2))
        return sizes  # type: ignore[return-value]

    def init_layers(self, n: int, cond: Tensor | None) -> PixelCNNPPCache:
        sizes, f = self.grid_sizes(), self.config.channels
        weight = self.output.weight

        def pairs(blocks: nn.ModuleList, size: tuple[int, int]) -> list[PairState]:
            return [block.init_step(n, *size, cond) for block in blocks]

        scales = len(self.up)
        return PixelCNNPPCache(
            u_init=self.u_init.init_rows(n, *sizes[0]),
            start=start_state(self.ul_init_above, self.ul_init_left, n, *sizes[0]),
            up=[pairs(self.up[s], sizes[s]) for s in range(scales)],
            down=[pairs(self.down[scales - 1 - s], sizes[s]) for s in range(scales)],  # `down` runs coarsest first
            u_shrink=[conv.init_rows(n, *sizes[s]) for s, conv in enumerate(self.u_shrink)],
            ul_shrink=[conv.init_step(n, *sizes[s]) for s, conv in enumerate(self.ul_shrink)],
            ul_grow=[conv.taps() for conv in self.ul_grow],
            up_u=[[] for _ in range(scales)],
            down_u=[[] for _ in range(scales)],
            down_ul=[weight.new_zeros(n, h, w, f) for h, w in sizes],
            output=Pointwise.of(self.output),
        )

    def row_input(self, cache: PixelCache, i: int) -> Tensor:
        """The network's input on row i: (n, C + 1, W)."""
        return self.network_input(cache.x[:, :, i])

    def begin_row(self, cache: PixelCache, i: int) -> None:
        state, sizes = cache.layers, self.grid_sizes()
        finished = self.row_input(cache, i - 1) if i else None
        if finished is None:  # down-shifted: the first row reads zeros above the image
            u = torch.zeros_like(state.start.above_row)  # (n, W, F)
        else:
            u = self.u_init.row_step(state.u_init, i - 1, finished.transpose(1, 2))
        start_row(self.ul_init_above, self.ul_init_left, state.start, i, finished)
        active = [s for s in range(len(self.up)) if i % (1 << s) == 0]  # the scales with a row starting here
        for s in active:
            q = i >> s
            if s:
                u = self.u_shrink[s - 1].row_out(state.u_shrink[s - 1], 2 * q)
            state.up_u[s] = [u]
            for block, pair in zip(self.up[s], state.up[s], strict=True):
                u = block.u_row(pair, q, u)
                block.ul.begin_row(pair.ul, q)
                state.up_u[s].append(u)
            if s + 1 < len(self.up):  # the strided convolutions into the next scale read every row of this one
                self.u_shrink[s].row_write(state.u_shrink[s], q, u)
                self.ul_shrink[s].begin_row(state.ul_shrink[s], q)
        for s in reversed(active):  # the down pass, coarsest first
            q = i >> s
            if s == len(self.up) - 1:
                u = state.up_u[s][-1]
            else:
                u = self.u_grow[s].row(state.down_u[s + 1][-1], q, sizes[s][1])
            state.down_u[s] = []
            for k, (block, pair) in enumerate(zip(self.down[-1 - s], state.down[s], strict=True)):
                u = block.u_row(pair, q, u, state.up_u[s][-1 - k])
                block.ul.begin_row(pair.ul, q)
                state.down_u[s].append(u)

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:
        state, scales = cache.layers, len(self.up)
        ul = start_at(self.ul_init_left, state.start, j, self.row_input(cache, i))
        active = [s for s in range(scales) if i % (1 << s) == 0 and j % (1 << s) == 0]
        up_ul: list[list[Tensor]] = [[] for _ in range(scales)]
        for s in active:
            q, p = i >> s, j >> s
            up_ul[s].append(ul)
            for k, (block, pair) in enumerate(zip(self.up[s], state.up[s], strict=True)):
                ul = block.ul.step(pair.ul, p, ul, state.up_u[s][k + 1][:, p], pair.ul_bias)
                up_ul[s].append(ul)
            if s + 1 < scales:
                shrink, shrink_state = self.ul_shrink[s], state.ul_shrink[s]
                if s + 1 in active:
                    ul = shrink.step(shrink_state, p, ul)
                else:
                    shrink.put(shrink_state, p, ul)
        for s in reversed(active):
            q, p = i >> s, j >> s
            if s == scales - 1:
                ul = up_ul[s][-1]
            else:
                ul = state.ul_grow[s][q % 2][p % 2](state.down_ul[s + 1][:, q >> 1, p >> 1])
            for k, (block, pair) in enumerate(zip(self.down[-1 - s], state.down[s], strict=True)):
                aux = torch.cat([state.down_u[s][k][:, p], up_ul[s][-1 - k]], dim=1)
                ul = block.ul.step(pair.ul, p, ul, aux, pair.ul_bias)
            state.down_ul[s][:, q, p] = ul
        return self.to_params(state.output(F.elu(ul))[:, :, None, None])


@dataclass
class PixelCNNPPCache:
    u_init: RowState
    start: StreamStartState  # the ul stream's start
    up: list[list[PairState]]  # per scale, per block
    down: list[list[PairState]]  # per scale (finest first), per block
    u_shrink: list[RowState]  # into scale s + 1, on the grid of scale s
    ul_shrink: list[PositionState]
    ul_grow: list[list[list[Pointwise]]] = field(metadata=SHARED)  # into scale s, by parity
    up_u: list[list[Tensor]]  # per scale: the u stream's up-pass rows (the input, then each block), (n, W_s, F)
    down_u: list[list[Tensor]]  # per scale: the u stream's down-pass rows of each block
    down_ul: list[Tensor]  # per scale: the ul stream's down-pass output at every position so far, (n, H_s, W_s, F)
    output: Pointwise = field(metadata=SHARED)
