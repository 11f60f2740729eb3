"""Any-order image model of locally masked convolutions (Jain, Abbeel and Pathak 2020, "Locally Masked Convolution
for Autoregressive Models", arXiv 2006.12486).

The generation order over pixels is an input of the network, not a fact of its weights: every convolution is a
`nn.locally_masked_conv.LocallyMaskedConv2d` whose per-location masks come from the order, so one set of weights
models the image in any order. The network keeps its resolution (the paper replaces PixelCNN++'s down- and
up-sampling by dilated convolutions for the same reason: a mask is defined per pixel): a strictly masked first
layer over the scaled pixels (and a channel of ones, so that the zero padding differs from data), then gated
residual blocks of PixelCNN++ (concat-ELU, two locally masked convolutions, a sigmoid gate), dilations cycling
through `dilations`, then a 1x1 output layer. Head: a discretized logistic mixture (`head="mixture"`, the default
above 2 levels, R → G → B coupled inside the pixel as in PixelCNN++), or a per-value softmax (`head="softmax"`; a
strictly channel-masked 1x1 link from the pixel's earlier channels orders R, G, B), Bernoulli for binary data.

Orders (`chainrule.orders`): the model trains over `orders` (default: the 8 orientations of the S-curve), one order
per batch drawn from (seed, step); `ordered(order)` sets the order for a block of calls; `log_prob(x, order=...)`
scores under one order, `log_prob(x, orders="ensemble")` under the uniform mixture of the trained orders (exact: a
mixture of normalised models). Completion chooses an order with every known pixel first (`orders.known_first`),
so its conditional is exact and sampling is ancestral. The model's order is `Ordering.ANY`.

Generation computes every layer once per pixel, at the pixel's step: in a locally masked stack the features at a
pixel read only pixels at or before it in the order, so they are final once the earlier values are known. The
cache holds each layer's input map and fills one column per pixel.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule import orders as named_orders
from chainrule.data.condition import Condition
from chainrule.distributions import DiscretizedLogisticMixture
from chainrule.errors import ConfigError, InputError
from chainrule.models.base import register
from chainrule.models.footprint import Footprint, conv, embedding, masked_network
from chainrule.models.image import ConditionEmbedding, ImageModel, check_image_config
from chainrule.nn.gated_resnet import concat_elu
from chainrule.nn.locally_masked_conv import LocallyMaskedConv2d, neighbour_index
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED
from chainrule.orders import Ordering
from chainrule.sampling.regions import random_known

HEADS = ("auto", "mixture", "softmax")
MASK_CACHE = 16  # orders whose masks are kept (completion of many different regions builds one order each)


@dataclass(frozen=True)
class LMConvConfig:
    """LMConv hyper-parameters.

    Attributes:
        shape, levels: the data: (C, H, W) with K levels.
        channels: features of the residual stream.
        blocks: gated residual blocks (two locally masked convolutions each).
        kernel, first_kernel: kernel sizes of the blocks and of the first layer.
        dilations: the blocks' dilations, cycled.
        head: "mixture" (discretized logistic), "softmax", or "auto" (mixture above 2 levels; Bernoulli at 2).
        components: logistic mixture components.
        dropout: inside every residual block.
        orders: the trained orders, names of `chainrule.orders` (the first is the default order).
        completion_orders: the fraction of training batches walked instead in the known-first order
            (`orders.known_first`) of a random region (`sampling.regions.random_known`): the orders completion
            walks for a hidden centre or a scatter of pixels, which no named order covers. Not in the ensemble.
        seed: draws the order of each training batch from (seed, step).
        num_classes / cond_dim: class- / vector-conditional when > 0 (a bias on every block's gate).
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 32
    blocks: int = 6
    kernel: int = 3
    first_kernel: int = 5
    dilations: tuple[int, ...] = (1, 2, 4)
    head: str = "auto"
    components: int = 5
    dropout: float = 0.0
    orders: tuple[str, ...] = named_orders.ENSEMBLE_ORDERS
    completion_orders: float = 0.0
    seed: int = 0
    num_classes: int = 0
    cond_dim: int = 0

    def __post_init__(self) -> None:
        check_image_config(self.shape, self.levels, {})
        if self.channels < 1 or self.blocks < 0 or self.components < 1:
            raise ConfigError(f"channels={self.channels} ≥ 1, blocks={self.blocks} ≥ 0, components ≥ 1")
        if min(self.kernel, self.first_kernel) < 1 or self.kernel % 2 == 0 or self.first_kernel % 2 == 0:
            raise ConfigError(f"kernel={self.kernel} and first_kernel={self.first_kernel} must be odd and ≥ 1")
        if not self.dilations or min(self.dilations) < 1:
            raise ConfigError(f"dilations={tuple(self.dilations)} must be a non-empty list of integers ≥ 1")
        if self.head not in HEADS:
            raise ConfigError(f"head={self.head!r}; choose one of {', '.join(HEADS)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout={self.dropout} must be in [0, 1)")
        if not self.orders:
            raise ConfigError("orders must name at least one order")
        if not 0 <= self.completion_orders <= 1:
            raise ConfigError(f"completion_orders={self.completion_orders} must be a fraction in [0, 1]")
        _, h, w = self.shape
        for name in self.orders:
            try:
                named_orders.named(name, h, w)
            except InputError as error:
                raise ConfigError(str(error)) from None
        if self.num_classes < 0 or self.cond_dim < 0:
            raise ConfigError("num_classes and cond_dim must be ≥ 0")

    @property
    def mixture(self) -> bool:
        return self.levels > 2 and self.head != "softmax"

    def params_per_pixel(self) -> int:
        colours = self.shape[0]
        if self.mixture:
            return DiscretizedLogisticMixture(self.levels, self.components, colours).params_per_position
        return colours * (1 if self.levels == 2 else self.levels)

    def footprint(self) -> Footprint:
        colours, f = self.shape[0], self.channels
        condition = embedding(self.num_classes, 2 * f) + self.cond_dim * 2 * f
        block = conv(2 * f, f, self.kernel, self.kernel) + conv(2 * f, 2 * f, self.kernel, self.kernel) + condition
        per_pixel = self.params_per_pixel()
        link = conv(colours, per_pixel, 1, 1, bias=False) if not self.mixture and colours > 1 else 0
        weights = (
            conv(colours + 1, f, self.first_kernel, self.first_kernel) + self.blocks * block + conv(f, per_pixel) + link
        )
        return masked_network(weights, modules=6 + 6 * self.blocks, masks=link)


class LMConvBlock(nn.Module):
    """PixelCNN++'s gated residual block with locally masked convolutions: (B, F, H, W) → (B, F, H, W)."""

    def __init__(self, config: LMConvConfig, dilation: int) -> None:
        super().__init__()
        f, k = config.channels, config.kernel
        self.first = LocallyMaskedConv2d(2 * f, f, k, dilation)
        self.second = LocallyMaskedConv2d(2 * f, 2 * f, k, dilation)
        self.dropout = nn.Dropout(config.dropout)
        self.condition = ConditionEmbedding(config.num_classes, config.cond_dim, 2 * f)

    def forward(self, x: Tensor, masks: dict, cond: Tensor | Condition | None) -> Tensor:
        c = self.first(concat_elu(x), masks[self.first.mask_key])
        y, g = self.condition.add(self.second(self.dropout(concat_elu(c)), masks[self.second.mask_key]), cond).chunk(
            2, dim=1
        )
        return x + y * torch.sigmoid(g)


@register(
    "lmconv",
    config=LMConvConfig,
    kind="image",
    tiny=dict(
        channels=6, blocks=2, kernel=3, first_kernel=3, dilations=(1, 2), components=2, orders=("s-curve", "raster:r90")
    ),  # fmt: skip
    presets={
        "cpu": dict(
            channels=32,
            blocks=6,
            kernel=3,
            first_kernel=5,
            dilations=(1, 2, 4),
            components=5,
            completion_orders=0.5,  # half the batches in completion orders: exact completion of a hidden centre
            train=dict(batch_size=32, lr=2e-3),
        ),  # fmt: skip
        # the paper's networks are PixelCNN++'s sizes (80 to 160 features, dropout 0.5 on CIFAR-10)
        "paper": dict(
            channels=160,
            blocks=12,
            kernel=3,
            first_kernel=5,
            dilations=(1, 2, 4, 8),
            components=10,
            dropout=0.5,
            train=dict(batch_size=16, lr=2e-4),
        ),  # fmt: skip
    },
)
class LMConv(ImageModel):
    """long (B, C, H, W) [+ cond] → head params; in the order set by `ordered` (default: `config.orders[0]`)."""

    def __init__(self, config: LMConvConfig) -> None:
        super().__init__(config)
        c, f = self.colours, config.channels
        if config.mixture:
            self.head = DiscretizedLogisticMixture(self.levels, config.components, c)
            self.params_per_dim = self.head.params_per_position
        self.first = LocallyMaskedConv2d(c + 1, f, config.first_kernel, strict=True)
        self.blocks = nn.ModuleList(
            LMConvBlock(config, config.dilations[i % len(config.dilations)]) for i in range(config.blocks)
        )
        self.output = nn.Conv2d(f, config.params_per_pixel(), 1)
        # a softmax over colour values reads the pixel's earlier channels (R for G; R, G for B) through this link
        self.link = MaskedConv2d(c, config.params_per_pixel(), 1, "A", c, bias=False) if self.channel_link else None
        _, h, w = self.shape
        self.trained = [named_orders.named(name, h, w) for name in config.orders]
        self.pixel_order = self.trained[0]
        self._masks: OrderedDict[bytes, dict] = OrderedDict()

    @property
    def convolutions(self) -> list[LocallyMaskedConv2d]:
        """Every locally masked convolution, first layer first."""
        return [self.first] + [conv for block in self.blocks for conv in (block.first, block.second)]

    @property
    def channel_link(self) -> bool:
        return not self.config.mixture and self.colours > 1

    # --- the order: a call-time input --------------------------------------------------------------------------

    @property
    def ordering(self) -> Ordering:
        return Ordering.ANY

    @property
    def order(self) -> Tensor:
        """The flat values in the current order: each pixel's channels in turn."""
        return named_orders.pixel_to_dims(self.pixel_order, self.colours)

    @property
    def trained_orders(self) -> tuple[str, ...]:
        return tuple(self.config.orders)

    @contextmanager
    def ordered(self, order: str | Tensor) -> Iterator[None]:
        """Every call inside the block uses `order` (a name of `chainrule.orders`, or a permutation of the H·W
        pixels)."""
        _, h, w = self.shape
        chosen = named_orders.resolve(order, h, w)
        before, self.pixel_order = self.pixel_order, chosen
        try:
            yield
        finally:
            self.pixel_order = before

    def masks(self, device: torch.device) -> dict:
        """The current order's masks of every layer, {mask_key: (k², H·W)}, cached per order."""
        key = self.pixel_order.numpy().tobytes()
        found = self._masks.get(key)
        if found is None or next(iter(found.values())).mask.device != device:
            _, h, w = self.shape
            with torch.inference_mode(False):  # cached masks serve training steps too: never inference tensors
                rank = named_orders.rank_to_order(self.pixel_order.clone())
                found = {layer.mask_key: layer.masks(rank, h, w).to(device) for layer in self.convolutions}
            self._masks[key] = found
            while len(self._masks) > MASK_CACHE:
                self._masks.popitem(last=False)
        self._masks.move_to_end(key)
        return found

    # --- the network ---------------------------------------------------------------------------------------------

    def network_input(self, x: Tensor) -> Tensor:
        scaled = self.encode(x)
        return torch.cat([scaled, torch.ones_like(scaled[:, :1])], dim=1)

    def forward(self, x: Tensor, cond: Tensor | Condition | None = None) -> Tensor:
        masks = self.masks(x.device)
        context = self.context(cond)
        h = self.first(self.network_input(x), masks[self.first.mask_key])
        for block in self.blocks:
            h = block(h, masks, context)
        out = self.output(F.elu(h))
        if self.link is not None:
            out = out + self.link(self.encode(x))
        return self.to_params(out)

    def to_params(self, out: Tensor) -> Tensor:
        if not self.config.mixture:
            return super().to_params(out)
        params = out.permute(0, 2, 3, 1)  # the coupled head's layout: (B, 1, H, W, P) grey, (B, H, W, P) colour
        return params.unsqueeze(1) if self.colours == 1 else params

    # --- likelihood under one order, or the ensemble of the trained ones --------------------------------------

    def log_prob(
        self,
        x: Tensor,
        cond: Tensor | None = None,
        reduction: str = "sum",
        order: str | Tensor | None = None,
        orders: str | None = None,
    ) -> Tensor:
        """log p(x) in nats under the current order, or `order`; `orders="ensemble"`: log of the mean of p(x) over
        the trained orders, (B,) (a mixture has no per-dimension conditionals: reduction "sum" only)."""
        if orders is not None:
            if orders != "ensemble" or order is not None or reduction != "sum":
                raise InputError('orders="ensemble" scores the mixture of the trained orders: no order, sum only')
            return self.ensemble_log_prob(x, cond)
        if order is not None:
            with self.ordered(order):
                return super().log_prob(x, cond, reduction)
        return super().log_prob(x, cond, reduction)

    def order_log_probs(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        """log p(x) under each trained order: (M, B)."""
        x = self.check_input(x, cond)
        rows = []
        for order in self.trained:
            with self.ordered(order):
                rows.append(self.dim_log_probs(x, cond).flatten(1).sum(1))
        return torch.stack(rows)

    def ensemble_log_prob(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        per_order = self.order_log_probs(x, cond)
        return torch.logsumexp(per_order, dim=0) - math.log(per_order.shape[0])

    def training_order(self, step: int) -> Tensor:
        """The order of training batch `step`: drawn from (seed, step), the same on every process; a known-first
        order of a random region for a `completion_orders` fraction of the batches, else one of `orders`."""
        draw = torch.Generator().manual_seed(self.config.seed * 1_000_003 + step)
        share = self.config.completion_orders
        if share and float(torch.rand(1, generator=draw)) < share:
            _, h, w = self.shape
            return named_orders.known_first(random_known(h, w, draw))
        if len(self.trained) == 1:
            return self.trained[0]
        return self.trained[int(torch.randint(len(self.trained), (1,), generator=draw))]

    def training_log_prob(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        with self.ordered(self.training_order(step)):
            return super().training_log_prob(x, cond, step)

    # --- generation: each layer once per pixel, at the pixel's step ---------------------------------------------

    def init_cache(self, n: int, cond: Tensor | None = None) -> LMConvCache:
        device = self.output.weight.device
        c, h, w = self.shape
        pixels = h * w
        masks = self.masks(device)
        neighbours = {
            layer.mask_key: neighbour_index(h, w, layer.kernel, layer.dilation).to(device)
            for layer in self.convolutions
        }
        f = self.config.channels
        zeros = lambda width: torch.zeros(n, width, pixels + 1, device=device)  # noqa: E731
        context = self.context(cond)
        bias = [block.condition(context) for block in self.blocks]
        order = self.order.tolist()
        return LMConvCache(
            x=torch.zeros(n, *self.shape, dtype=torch.long, device=device),
            data=zeros(c + 1),
            streams=[zeros(2 * f) for _ in self.blocks],
            inner=[zeros(2 * f) for _ in self.blocks],
            bias=[b.reshape(n, -1) if isinstance(b, Tensor) else None for b in bias],
            masks=masks,
            neighbours=neighbours,
            where=[(p // pixels, p % pixels) for p in order],
            flat=order,
        )

    def pixel_features(self, cache: LMConvCache, p: int) -> Tensor:
        """Every layer at pixel p (all earlier pixels complete): the output layer's input, (n, F)."""
        if cache.last is not None:  # the previous pixel is complete: its values join the data map
            q = cache.last
            pixel = cache.x.flatten(2)[:, :, q]
            cache.data[:, :, q] = self.network_input(pixel[:, :, None])[:, :, 0]
        cache.last = p

        def at(layer: LocallyMaskedConv2d, inputs: Tensor) -> Tensor:
            key = layer.mask_key
            return layer.step(inputs, cache.neighbours[key][p], cache.masks[key].mask[:, p])

        h = at(self.first, cache.data)
        for k, block in enumerate(self.blocks):
            cache.streams[k][:, :, p] = concat_elu(h)
            c = at(block.first, cache.streams[k])
            cache.inner[k][:, :, p] = concat_elu(c)
            out = at(block.second, cache.inner[k])
            if cache.bias[k] is not None:
                out = out + cache.bias[k]
            y, g = out.chunk(2, dim=1)
            h = h + y * torch.sigmoid(g)
        return F.elu(h)

    def cache_step(self, cache: LMConvCache, previous: Tensor | None) -> Tensor:
        t = cache.t
        n = cache.x.shape[0]
        if previous is not None:
            cache.x.view(n, -1)[:, cache.flat[t - 1]] = previous.to(cache.x.device)
        channel, p = cache.where[t]
        _, h, w = self.shape
        i, j = divmod(p, w)
        if channel == 0:  # the network once per pixel; only the channel link changes between a pixel's channels
            weight = self.output.weight.view(self.output.weight.shape[0], -1)
            cache.output = F.linear(self.pixel_features(cache, p), weight, self.output.bias)
        out = cache.output
        if self.link is not None:
            pixel = cache.x[:, :, i, j]
            out = out + F.linear(self.encode(pixel), (self.link.weight * self.link.mask).view(out.shape[1], -1))
        params = self.to_params(out.view(n, -1, 1, 1))
        cache.t = t + 1
        return self.head.log_probs_at(params, cache.x[:, :, i : i + 1, j : j + 1], (channel, 0, 0))


@dataclass
class LMConvCache:
    """The generation state of an LMConv model: each layer's input map, one column per pixel and a zero column
    at the end (neighbours outside the image)."""

    x: Tensor  # long (n, C, H, W): the values so far
    data: Tensor  # (n, C + 1, H·W + 1): the first layer's input (scaled values and the ones channel)
    streams: list[Tensor]  # per block (n, 2F, H·W + 1): concat-ELU of the block's input
    inner: list[Tensor]  # per block (n, 2F, H·W + 1): concat-ELU of its first convolution's output
    bias: list[Tensor | None]  # per block (n, 2F): the condition's bias on the gate
    masks: dict = field(metadata=SHARED)  # {mask_key: (k², H·W)} of the order
    neighbours: dict = field(metadata=SHARED)  # {mask_key: long (H·W, k²)}
    where: list[tuple[int, int]] = field(metadata=SHARED)  # (channel, pixel) of each step
    flat: list[int] = field(metadata=SHARED)  # the flat index of each step
    t: int = 0
    last: int | None = None  # the pixel whose features were computed last
    output: Tensor | None = None  # (n, P): the output layer at the current pixel, before the channel link
