"""Gated PixelCNN (van den Oord, Kalchbrenner, Vinyals, Espeholt, Graves, Kavukcuoglu 2016, "Conditional Image
Generation with PixelCNN Decoders", arXiv 1606.05328).

Two stacks per layer: a vertical stack over the rows above (k-wide), and a horizontal stack over the current row
up to the pixel, which receives the vertical stack shifted one row down through a 1x1 convolution. Both use gated
units tanh(W_f * x + V_f h) ⊙ σ(W_g * x + V_g h), where h is a class embedding or a conditioning vector. The
horizontal stack has a residual connection (a 1x1 convolution of the gated output added to its input). Together the
stacks see the whole causal context: no blind spot. Colour channels are predicted R → G → B inside a pixel through
channel-group masks at the current pixel of the horizontal stack.

Deviation: the output head is two 1x1 layers (ReLU) on the horizontal stack, as in the PixelCNN paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from chainrule.data.condition import Condition
from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import (
    ConditionEmbedding,
    Context,
    ImageModel,
    PixelCache,
    bias_at,
    bias_rows,
    check_image_config,
    check_map_config,
)
from chainrule.nn.compiled_step import compiled_gated_stack_step
from chainrule.nn.gated import gate
from chainrule.nn.map_network import map_network_weights
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED, Pointwise, PositionState, RowState
from chainrule.nn.shifted_conv import HorizontalConv, VerticalConv, down_shift


@dataclass(frozen=True)
class GatedPixelCNNConfig:
    """Gated PixelCNN hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: feature maps per stack (multiple of C).
        layers: gated layers (the first one is type A).
        kernel: width k of both stacks in the later layers (odd).
        first_kernel: width of the first layer (odd).
        hidden: width of the first 1x1 output layer (multiple of C).
        num_classes: > 0 for class-conditional generation (cond = long class ids).
        cond_dim: > 0 for vector-conditional generation (cond = float vectors).
        embed: > 0 for VQ-VAE codes (shape (1, h, w)): the width of a learned embedding of each code, read in place
            of scaled values.
        map_shape, map_levels, map_channels: a spatial conditioning map (M, h', w') (`data.Condition`; e.g. the
            top codes of a VQ-VAE-2 for the bottom prior, map_levels = their codebook size; 0 = float values), read
            by a `MapNetwork` of map_channels features and added to every gate (the paper's h = m(s)) and to
            the first output layer (a direct path from the map to each position's output, as the conditioning
            network's logits of Pixel Recursive Super Resolution, Dahl et al. 2017, arXiv 1702.00783).
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 64
    layers: int = 10
    kernel: int = 3
    first_kernel: int = 7
    hidden: int = 256
    num_classes: int = 0
    cond_dim: int = 0
    embed: int = 0
    map_shape: tuple[int, ...] = ()
    map_levels: int = 0
    map_channels: int = 32

    def __post_init__(self) -> None:
        check_image_config(self.shape, self.levels, {"channels": self.channels, "hidden": self.hidden}, self.embed)
        check_map_config(self.shape, self.map_shape, self.map_levels, self.map_channels)
        if self.layers < 1 or self.kernel % 2 == 0 or self.first_kernel % 2 == 0:
            raise ConfigError(f"layers={self.layers} must be ≥ 1 and kernels odd ({self.kernel}, {self.first_kernel})")
        if self.num_classes < 0 or self.cond_dim < 0:
            raise ConfigError("num_classes and cond_dim must be ≥ 0")

    def footprint(self) -> Footprint:
        c, f, per_dim = self.shape[0], self.channels, discrete_head(self.levels)[1]
        m = self.map_channels if self.map_shape else 0

        def layer(inputs: int, k: int) -> int:
            stacks = conv(inputs, 2 * f, k // 2 + 1, k) + conv(inputs, 2 * f, 1, k // 2 + 1)
            condition = 2 * (embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f + m * 2 * f)
            return stacks + conv(2 * f, 2 * f, 1, 1) + conv(f, f, 1, 1) + condition

        reader = map_network_weights(self.map_shape[0], self.map_levels, m) + m * self.hidden if m else 0
        weights = (
            reader
            + embedding(self.levels, self.embed)
            + layer(self.embed or c, self.first_kernel)
            + (self.layers - 1) * layer(f, self.kernel)
            + conv(f, self.hidden, 1, 1)
            + conv(self.hidden, c * per_dim, 1, 1)
        )
        return masked_network(weights, modules=12 + 14 * self.layers, masks=weights)


class GatedLayer(nn.Module):
    """One layer of both stacks: (v, h) → (v', h')."""

    def __init__(
        self,
        in_channels: int,
        channels: int,
        kernel: int,
        mask_type: str,
        colours: int,
        num_classes: int,
        cond_dim: int,
        map_channels: int = 0,
    ) -> None:
        super().__init__()
        self.residual = mask_type == "B"
        self.vertical = VerticalConv(in_channels, 2 * channels, kernel)
        self.horizontal = HorizontalConv(in_channels, 2 * channels, kernel, mask_type, colours)  # type: ignore[arg-type]
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = MaskedConv2d(channels, channels, 1, "B", colours)
        self.v_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels, map_channels)
        self.h_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels, map_channels)

    def forward(self, v: Tensor, h: Tensor, cond: Context | None) -> tuple[Tensor, Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.h_cond.add(self.horizontal(h) + self.link(down_shift(v_pre)), cond)
        h_new = self.out(gate(h_pre))
        return gate(self.v_cond.add(v_pre, cond)), (h + h_new if self.residual else h_new)

    # --- one row of the vertical stack at a time, one position of the horizontal stack --------------------------

    def init_step(self, n: int, height: int, width: int, cond: Context | None) -> GatedLayerState:
        # the gates' biases: (n, 2f, 1, 1) per example, (n, 2f, H, W) with a map, or 0.0 without a condition
        return GatedLayerState(
            vertical=self.vertical.init_rows(n, height, width),
            horizontal=self.horizontal.init_step(n, height, width),
            link=Pointwise.of(self.link),
            out=self.out.as_pointwise(),
            v_bias=bias_rows(self.v_cond(cond)),
            h_bias=bias_rows(self.h_cond(cond)),
        )

    def begin_row(self, state: GatedLayerState, i: int, v: Tensor | None) -> Tensor | None:
        """Row i starts: the vertical stack on the finished row i - 1 given its input there `v` (n, W, C_in), and
        what it passes to row i's horizontal stack (through the link). Returns its output on row i - 1, (n, W, f);
        None for i = 0."""
        if v is None:
            extra, out = state.link.bias, None  # the link of the zero row above the image
        else:
            pre = self.vertical.row_step(state.vertical, i - 1, v)  # (n, W, 2f)
            extra = state.link(pre.flatten(0, 1)).view_as(pre)
            out = gate(pre if state.v_bias is None else pre + bias_at(state.v_bias, i - 1), dim=2)
        self.horizontal.begin_row(
            state.horizontal, i, extra if state.h_bias is None else extra + bias_at(state.h_bias, i)
        )
        return out

    def file_rows(self, state: GatedLayerState, v: Tensor) -> Tensor:
        """The vertical stack's first rows at once, given its input there (n, C_in, r, W): files them as r calls
        of `begin_row` would (the horizontal stack keeps nothing across rows) and returns its output there,
        (n, f, r, W)."""
        self.vertical.rows_write(state.vertical, v)
        pre = self.vertical(v)
        if state.v_bias is not None:
            pre = pre + state.v_bias[:, : v.shape[2] if state.v_bias.shape[1] > 1 else 1].permute(0, 3, 1, 2)
        return gate(pre)

    def step(self, state: GatedLayerState, j: int, h: Tensor) -> Tensor:
        """The horizontal stack at column j of the current row: (n, C_in) → (n, f). The first layer takes the
        current row of the data instead, (n, C, W)."""
        if self.residual:
            return h + state.out(gate(self.horizontal.step(state.horizontal, j, h)))
        return state.out(gate(self.horizontal.step_on_row(state.horizontal, j, h)))


@dataclass
class GatedLayerState:
    vertical: RowState
    horizontal: PositionState
    link: Pointwise = field(metadata=SHARED)
    out: Pointwise = field(metadata=SHARED)
    v_bias: Tensor | None  # (n, 1 or H, 1 or W, 2f): the condition's bias of the vertical gate (`bias_rows`)
    h_bias: Tensor | None  # (n, 1 or H, 1 or W, 2f): the condition's bias of the horizontal gate


@register(
    "gated-pixelcnn",
    config=GatedPixelCNNConfig,
    kind="image",
    colour_fields=("channels", "hidden"),
    tiny=dict(channels=6, layers=3, kernel=3, first_kernel=3, hidden=12),
    presets={
        # 5-wide stacks reach 2 rows further up per layer (at 20 minutes on 2 cores they beat 3-wide stacks by 8.7
        # nats on binarized Fashion-MNIST). 16 channels at lr 8e-3 cost ~1.1x a PixelCNN cpu-preset step and beat
        # 24 channels at lr 2e-3 on binarized (94.15 vs 96.19 nats) and 256 levels (2.892 vs 2.991; BENCHMARKS.md).
        "cpu": dict(channels=16, layers=8, kernel=5, first_kernel=7, hidden=96, train=dict(batch_size=32, lr=8e-3)),
        "paper": dict(
            channels=128, layers=20, kernel=5, first_kernel=7, hidden=1024, train=dict(batch_size=16, lr=3e-4)
        ),
    },
)
class GatedPixelCNN(ImageModel):
    """long (B, C, H, W) [+ cond] → head params (B, C, H, W, P)."""

    def __init__(self, config: GatedPixelCNNConfig) -> None:
        super().__init__(config)
        c, f = self.colours, config.channels
        self.layers = nn.ModuleList(
            GatedLayer(
                self.input_channels if i == 0 else f,
                f,
                config.first_kernel if i == 0 else config.kernel,
                "A" if i == 0 else "B",
                c,
                config.num_classes,
                config.cond_dim,
                self.map_channels,
            )
            for i in range(config.layers)
        )
        self.hidden = MaskedConv2d(f, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, self.out_channels, 1, "B", c)
        # the map's bias on the first output layer (zero at the start); a class or vector feeds the gates only
        self.head_cond = ConditionEmbedding(0, 0, config.hidden, self.map_channels) if self.map_channels else None

    def forward(self, x: Tensor, cond: Tensor | Condition | None = None) -> Tensor:
        v = h = self.encode(x)
        context = self.context(cond)
        for layer in self.layers:
            v, h = layer(v, h, context)
        hidden = self.hidden(torch.relu(h))
        if self.head_cond is not None:
            hidden = self.head_cond.add(hidden, context)
        return self.to_params(self.output(torch.relu(hidden)))

    # --- generation: per row the vertical stacks, per position one position of each horizontal stack -----------

    # per-position steps through `nn.compiled_step` (the layers' own steps, compiled as one graph); False: each
    # layer's `step` in turn (the reference the compiled path is tested against)
    compiled_steps: bool = True

    def init_layers(self, n: int, cond: Tensor | None) -> GatedCache:
        _, height, width = self.shape
        context = self.context(cond)
        stack = [layer.init_step(n, height, width, context) for layer in self.layers]
        head_bias = bias_rows(self.head_cond(context)) if self.head_cond is not None else None
        head = (self.hidden.as_pointwise(), self.output.as_pointwise())
        fused = None
        if self.compiled_steps:

            def bias(pointwise: Pointwise) -> Tensor:
                return (
                    pointwise.weight.new_zeros(pointwise.weight.shape[1]) if pointwise.bias is None else pointwise.bias
                )

            fused = FusedStack(
                now=[state.horizontal.now for state in stack],
                out_weight=[state.out.weight for state in stack],
                out_bias=[bias(state.out) for state in stack],
                lefts=[state.horizontal.geometry[1] for state in stack],
                head=[head[0].weight, bias(head[0]), head[1].weight, bias(head[1])],
                step=compiled_gated_stack_step(),
            )
        return GatedCache(stack, head, head_bias, fused)

    def begin_row(self, cache: PixelCache, i: int) -> None:
        v = self.encode(cache.x[:, :, i - 1]).transpose(1, 2) if i else None
        for layer, state in zip(self.layers, cache.layers.stack, strict=True):
            v = layer.begin_row(state, i, v)

    def file_rows(self, cache: PixelCache, rows: int) -> bool:
        v = self.encode(cache.x[:, :, :rows])
        for layer, state in zip(self.layers, cache.layers.stack, strict=True):
            v = layer.file_rows(state, v)
        return True

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:
        h = self.encode(cache.x[:, :, i])
        fused, stack = cache.layers.fused, cache.layers.stack
        if fused is not None:
            rows = [state.horizontal.row for state in stack]
            above = [state.horizontal.above for state in stack]
            bias = bias_at(cache.layers.head_bias, i, j)
            out = fused.step(
                h, j, rows, above, fused.now, fused.out_weight, fused.out_bias, fused.lefts, fused.head, bias
            )
            return out.view(out.shape[0], self.colours, 1, 1, self.params_per_dim)
        for layer, state in zip(self.layers, cache.layers.stack, strict=True):
            h = layer.step(state, j, h)
        return self.pointwise_head(cache.layers.head, h, bias_at(cache.layers.head_bias, i, j))


@dataclass
class FusedStack:
    """The weights of every layer's horizontal step and of the head, as `nn.compiled_step` takes them."""

    now: list[Tensor]
    out_weight: list[Tensor]
    out_bias: list[Tensor]
    lefts: list[int]
    head: list[Tensor]
    step: Any  # the compiled function


@dataclass
class GatedCache:
    stack: list[GatedLayerState]
    head: tuple[Pointwise, Pointwise] = field(metadata=SHARED)
    head_bias: Tensor | None = None  # (n, 1 or H, 1 or W, hidden): the map's bias on the first output layer
    fused: FusedStack | None = field(default=None, metadata=SHARED)  # the compiled path (`compiled_steps`)
