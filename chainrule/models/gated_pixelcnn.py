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

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import ConditionEmbedding, ImageModel, check_image_config
from chainrule.nn.gated import gate
from chainrule.nn.masked_conv import MaskedConv2d
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

    def __post_init__(self) -> None:
        check_image_config(self.shape, self.levels, {"channels": self.channels, "hidden": self.hidden})
        if self.layers < 1 or self.kernel % 2 == 0 or self.first_kernel % 2 == 0:
            raise ConfigError(f"layers={self.layers} must be ≥ 1 and kernels odd ({self.kernel}, {self.first_kernel})")
        if self.num_classes < 0 or self.cond_dim < 0:
            raise ConfigError("num_classes and cond_dim must be ≥ 0")

    def footprint(self) -> Footprint:
        c, f, per_dim = self.shape[0], self.channels, discrete_head(self.levels)[1]

        def layer(inputs: int, k: int) -> int:
            stacks = conv(inputs, 2 * f, k // 2 + 1, k) + conv(inputs, 2 * f, 1, k // 2 + 1)
            condition = 2 * (embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f)
            return stacks + conv(2 * f, 2 * f, 1, 1) + conv(f, f, 1, 1) + condition

        weights = (
            layer(c, self.first_kernel)
            + (self.layers - 1) * layer(f, self.kernel)
            + conv(f, self.hidden, 1, 1)
            + conv(self.hidden, c * per_dim, 1, 1)
        )
        return masked_network(weights, modules=4 + 12 * self.layers, masks=weights)


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
    ) -> None:
        super().__init__()
        self.residual = mask_type == "B"
        self.vertical = VerticalConv(in_channels, 2 * channels, kernel)
        self.horizontal = HorizontalConv(in_channels, 2 * channels, kernel, mask_type, colours)  # type: ignore[arg-type]
        self.link = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.out = MaskedConv2d(channels, channels, 1, "B", colours)
        self.v_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels)
        self.h_cond = ConditionEmbedding(num_classes, cond_dim, 2 * channels)

    def forward(self, v: Tensor, h: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.h_cond.add(self.horizontal(h) + self.link(down_shift(v_pre)), cond)
        h_new = self.out(gate(h_pre))
        return gate(self.v_cond.add(v_pre, cond)), (h + h_new if self.residual else h_new)


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
                c if i == 0 else f,
                f,
                config.first_kernel if i == 0 else config.kernel,
                "A" if i == 0 else "B",
                c,
                config.num_classes,
                config.cond_dim,
            )
            for i in range(config.layers)
        )
        self.hidden = MaskedConv2d(f, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, self.out_channels, 1, "B", c)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        v = h = self.encode(x)
        for layer in self.layers:
            v, h = layer(v, h, cond)
        return self.to_params(self.output(torch.relu(self.hidden(torch.relu(h)))))

    # --- cached generation: row by row for the vertical stack, one row band for the horizontal stack -----------

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        """Generation state: the image so far, and per layer the vertical stack's pre-activations and outputs of the
        finished rows. A step recomputes only the horizontal stack on the current row (W positions instead of
        H·W); each finished row adds one row of the vertical stack per layer."""
        device = self.output.weight.device
        c, h, w = self.shape
        f = self.config.channels
        return {
            **self.new_row_cache(n, cond),
            "v_pre": [torch.zeros(n, 2 * f, h, w, device=device) for _ in self.layers],
            "v_out": [torch.zeros(n, f, h, w, device=device) for _ in self.layers],
        }

    def cache_row(self, cache: dict[str, Any], row: int, keep: bool) -> Tensor | None:
        """With `keep`: the vertical stack of every layer at the finished `row`. Otherwise the horizontal stack on
        `row`, reading the vertical stack of the row above."""
        if not keep:
            return self.horizontal_row(cache, row)
        k = [layer.vertical.kernel_size[0] - 1 for layer in self.layers]  # rows above each layer reads
        below = self.encode(cache["x"])
        for i, layer in enumerate(self.layers):
            top = max(0, row - k[i])
            pre = layer.vertical(below[:, :, top : row + 1])[:, :, -1:]
            cache["v_pre"][i][:, :, row : row + 1] = pre
            cache["v_out"][i][:, :, row : row + 1] = gate(layer.v_cond.add(pre, cache["cond"]))
            below = cache["v_out"][i]

        return None

    def horizontal_row(self, cache: dict[str, Any], row: int) -> Tensor:
        """The horizontal stack's output on `row` (n, f, 1, W)."""
        cond = cache["cond"]
        h = self.encode(cache["x"][:, :, row : row + 1])
        for i, layer in enumerate(self.layers):
            above = cache["v_pre"][i][:, :, row - 1 : row] if row else torch.zeros_like(cache["v_pre"][i][:, :, :1])
            h_pre = layer.h_cond.add(layer.horizontal(h) + layer.link(above), cond)
            h_new = layer.out(gate(h_pre))
            h = h + h_new if layer.residual else h_new
        return h
