"""What the convolutional and recurrent image models share: (C, H, W) data, input scaling, the head, and the
layout of the output channels.

The network sees the levels scaled to [-1, 1], one input channel per colour channel; for VQ-VAE codes (nominal
symbols, `embed` > 0 in the config) a learned embedding of each value instead. Its last layer emits
C · P channels in C colour groups of P (`nn.masked_conv.channel_groups`); `to_params` turns them into the head's
(B, C, H, W, P). Binary data gets a Bernoulli head, K > 2 levels a K-way softmax per sub-pixel.

Generation steps one position per layer: the driver (`cache_step`) is here, each family composes its layers'
step states (`init_layers`, `begin_row`, `pixel_params`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from chainrule.data.condition import Condition
from chainrule.data.kind import DataKind
from chainrule.distributions import DiscretizedLogisticMixture, discrete_head
from chainrule.errors import ConfigError, InputError
from chainrule.models.base import AutoregressiveModel, check_shape_levels, index_rows
from chainrule.nn.map_network import MapNetwork
from chainrule.nn.raster_step import SHARED, Pointwise
from chainrule.orders import Ordering


def check_map_config(shape: tuple[int, ...], map_shape: tuple[int, ...], map_levels: int, map_channels: int) -> None:
    """Validate a conditioning map: (M, h, w) with H / h = W / w a whole factor; codes (map_levels > 0) in one
    channel.

    Raises:
        ConfigError: naming the field at fault.
    """
    if not map_shape:
        if map_levels:
            raise ConfigError("map_levels needs a map_shape")
        return
    if len(map_shape) != 3 or min(map_shape) < 1 or map_channels < 1 or map_levels < 0:
        raise ConfigError(f"map_shape={tuple(map_shape)} must be (channels, h, w) and map_channels ≥ 1")
    _, height, width = shape
    if height % map_shape[1] or width % map_shape[2] or height // map_shape[1] != width // map_shape[2]:
        raise ConfigError(f"map_shape={tuple(map_shape)}: the image {height}x{width} must be a whole multiple of it")
    if map_levels and map_shape[0] != 1:
        raise ConfigError(f"a map of codes (map_levels={map_levels}) has one channel, not {map_shape[0]}")


def check_image_config(shape: tuple[int, ...], levels: int, divisible: dict[str, int], embed: int = 0) -> None:
    """Validate an image model config: shape (C, H, W), feature widths divisible by C, and a code embedding only
    for one channel of codes.

    Raises:
        ConfigError: naming the field at fault.
    """
    check_shape_levels(shape, levels)
    if len(shape) != 3:
        raise ConfigError(f"shape={tuple(shape)} must be (channels, height, width) for an image model")
    if embed < 0 or (embed and shape[0] != 1):
        raise ConfigError(f"embed={embed}: a code embedding (> 0) models one channel of codes (shape (1, h, w))")
    for name, width in divisible.items():
        if width < 1 or width % shape[0]:
            raise ConfigError(f"{name}={width} must be a positive multiple of the {shape[0]} colour channels")


class ImageModel(AutoregressiveModel):
    """Base of the image families: sets the head and conditioning embeddings; subclasses build `net`."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.colours = self.shape[0]
        self.head, self.params_per_dim = discrete_head(self.levels)
        embed = getattr(config, "embed", 0)  # the families that can model codes have the field
        self.embedding = nn.Embedding(self.levels, embed) if embed else None
        # the families that read a conditioning map have map_shape, map_levels and map_channels
        self.map_channels = getattr(config, "map_channels", 0) if self.map_shape else 0
        self.map_network = (
            MapNetwork(self.map_shape[0], self.map_levels, self.map_channels, self.shape[1] // self.map_shape[1])
            if self.map_shape
            else None
        )

    def context(self, cond: Tensor | Condition | None) -> Context | None:
        """What the conditioned layers read (`Context`): the map, if any, through the map network."""
        cond = Condition.of(cond)
        if cond is None:
            return None
        features = self.map_network(cond.map) if self.map_network is not None and cond.map is not None else None
        return Context(classes=cond.classes, vector=cond.vector, features=features)

    @property
    def data_kind(self) -> DataKind:
        return DataKind.image(self.levels) if self.embedding is None else DataKind.codes(self.levels)

    @property
    def input_channels(self) -> int:
        """Channels of the encoded input: C scaled values, or the code embedding's width."""
        return self.colours if self.embedding is None else self.embedding.embedding_dim

    @property
    def out_channels(self) -> int:
        """Channels of the last layer: C groups of P."""
        return self.colours * self.params_per_dim

    def encode(self, x: Tensor) -> Tensor:
        """long (B, C, ...) → float (B, C, ...) in [-1, 1]; codes (B, 1, ...) → their embedding (B, E, ...). Any
        trailing dimensions (a whole image, a row, a pixel)."""
        if self.embedding is not None:
            return self.embedding(x[:, 0]).movedim(-1, 1)
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def to_params(self, out: Tensor) -> Tensor:
        """(B, C·P, H, W) → (B, C, H, W, P)."""
        b, _, h, w = out.shape
        return out.reshape(b, self.colours, self.params_per_dim, h, w).permute(0, 1, 3, 4, 2)

    # --- per-position generation (Ramachandran et al. 2017, arXiv 1704.06001) ---------------------------------
    # The cache holds the image so far and the family's layer states (`init_layers`). At the start of each row the
    # family does that row's per-row work (`begin_row`: vertical stacks, rows-above parts of its convolutions); at
    # each position it computes one position per layer (`pixel_params`). Families with a discrete head recompute the
    # position at each of its colour channels (the channel-group masks make the features of group c final once the
    # channels before c are known); the mixture families compute a pixel once (`features_per_pixel`).

    features_per_pixel: bool = False

    def init_cache(self, n: int, cond: Tensor | None = None) -> PixelCache:
        device = self.output.weight.device
        order = self.order.tolist()
        c, h, w = self.shape
        where = [(p // (h * w), p // w % h, p % w) for p in order]
        x = torch.zeros(n, *self.shape, dtype=torch.long, device=device)
        return PixelCache(x=x, cond=cond, layers=self.init_layers(n, cond), where=where, flat=order)

    def init_layers(self, n: int, cond: Tensor | None) -> Any:  # pragma: no cover - abstract
        """The family's layer states for n images (each layer's `init_step` / `init_rows`)."""
        raise NotImplementedError

    def begin_row(self, cache: PixelCache, i: int) -> None:  # pragma: no cover - abstract
        """Row i starts (rows < i complete): the per-row work."""
        raise NotImplementedError

    def pixel_params(self, cache: PixelCache, i: int, j: int) -> Tensor:  # pragma: no cover - abstract
        """The head's parameters at pixel (i, j), in `to_params` layout with H = W = 1, from one position per layer."""
        raise NotImplementedError

    def cache_step(self, cache: PixelCache, previous: Tensor | None) -> Tensor:
        t = cache.t
        if previous is not None:
            cache.x.view(cache.x.shape[0], -1)[:, cache.flat[t - 1]] = previous.to(cache.x.device)
        channel, i, j = cache.where[t]
        if channel == 0 or not self.features_per_pixel:
            if channel == 0 and j == 0:
                self.begin_row(cache, i)
            cache.params = self.pixel_params(cache, i, j)
        cache.t = t + 1
        return self.head.log_probs_at(cache.params, cache.x[:, :, i : i + 1, j : j + 1], (channel, 0, 0))

    def cache_prefix(self, cache: PixelCache, values: Tensor) -> Tensor:
        """Whole known rows at the start of a raster walk are filed in one pass over them where the family can
        (`file_rows`); the rest of the prefix steps."""
        rows = min(values.shape[1] // self.row_steps, self.shape[1] - 1)
        if rows < 2 or cache.t or self.ordering is not Ordering.RASTER:
            return super().cache_prefix(cache, values)
        whole = rows * self.row_steps
        n = cache.x.shape[0]
        cache.x.view(n, -1)[:, cache.flat[:whole]] = values[:, :whole].to(cache.x.device)
        if not self.file_rows(cache, rows - 1):
            cache.x.zero_()
            return super().cache_prefix(cache, values)
        cache.t = whole  # row `rows` begins with the next step: its per-row work files row rows - 1 as usual
        log_probs = self.cache_step(cache, None)
        for value in values[:, whole:].unbind(1):
            log_probs = self.cache_step(cache, value)
        return log_probs

    def file_rows(self, cache: PixelCache, rows: int) -> bool:
        """File the first `rows` rows of `cache.x` into a fresh cache's layer states in one pass over them, as the
        per-row work of rows 1 .. rows would; the per-row work of row rows + 1 then files row `rows` as in any
        walk. False: the family files rows by stepping only."""
        return False

    def reorder_cache(self, cache: PixelCache, index: Tensor) -> PixelCache:
        """Every image family's cache holds the image so far, the condition and per-example layer states, all rows
        first (weights in fields marked shared)."""
        return index_rows(cache, index, cache.x.shape[0])

    def pointwise_head(
        self, state: tuple[Pointwise, Pointwise], features: Tensor, bias: Tensor | None = None
    ) -> Tensor:
        """The two 1x1 output layers (ReLU before each) at one position: (n, F) → (n, C, 1, 1, P); `bias` (n,
        hidden), if given, is added to the first one's output."""
        hidden, output = state
        inner = hidden(torch.relu(features))
        out = output(torch.relu(inner if bias is None else inner + bias))
        return out.view(out.shape[0], self.colours, 1, 1, self.params_per_dim)

    @property
    def row_steps(self) -> int:
        return self.shape[0] * self.shape[2]


@dataclass
class PixelCache:
    """The generation state of an image family stepped per position."""

    x: Tensor  # long (n, C, H, W): the values so far
    cond: Tensor | None
    layers: Any  # the family's composition of its layers' step states
    where: list[tuple[int, int, int]] = field(metadata=SHARED)  # (channel, row, column) of each step
    flat: list[int] = field(metadata=SHARED)  # the flat index of each step
    t: int = 0
    params: Tensor | None = None  # the head's parameters at the current pixel


@dataclass(frozen=True)
class Context:
    """What the conditioned layers read: the class ids and the vector of the condition, and its map turned into
    features at the data's grid by the model's `MapNetwork` (float (B, channels, H, W)). Rows first, so a
    generation cache holding it regroups with `index_rows`."""

    classes: Tensor | None = None
    vector: Tensor | None = None
    features: Tensor | None = None

    @classmethod
    def of(cls, cond: Tensor | Condition | Context | None) -> Context | None:
        """A context from a plain tensor or a Condition without a map (a map needs the model's network)."""
        if cond is None or isinstance(cond, Context):
            return cond
        cond = Condition.of(cond)
        if cond.map is not None:
            raise InputError("this layer was given a conditioning map: the model must read it first (model.context)")
        return cls(classes=cond.classes, vector=cond.vector)


class ConditionEmbedding(nn.Module):
    """A bias from the condition: a per-example one from a class id (embedding) and a conditioning vector (linear
    map), (B, width, 1, 1), plus a location-dependent one from the map's features (a 1x1 convolution),
    (B, width, H, W).

    Starts at zero, so that a conditional model starts as its unconditional counterpart and learns what the label
    adds. (PyTorch's default, an N(0, 1) embedding, put a random per-class bias of unit scale on every gate and made
    the class-conditional Gated PixelCNN worse than the unconditional one at equal steps: BENCHMARKS.md.)
    """

    def __init__(self, num_classes: int, cond_dim: int, width: int, map_channels: int = 0) -> None:
        super().__init__()
        self.classes = nn.Embedding(num_classes, width) if num_classes else None
        self.vector = nn.Linear(cond_dim, width, bias=False) if cond_dim else None
        self.map = nn.Conv2d(map_channels, width, 1, bias=False) if map_channels else None
        for table in (self.classes, self.vector, self.map):
            if table is not None:
                nn.init.zeros_(table.weight)

    def forward(self, cond: Tensor | Condition | Context | None) -> Tensor | float:
        context = Context.of(cond)
        if context is None:
            return 0.0
        bias: Tensor | float = 0.0
        if context.classes is not None and self.classes is not None:
            bias = bias + self.classes(context.classes)[:, :, None, None]
        if context.vector is not None and self.vector is not None:
            bias = bias + self.vector(context.vector)[:, :, None, None]
        if context.features is not None and self.map is not None:
            bias = bias + self.map(context.features)
        return bias

    def add(self, x: Tensor, cond: Tensor | Condition | Context | None) -> Tensor:
        """`x` plus the bias of `cond`: `x` itself, with no extra pass over it, when there is no condition."""
        return x if cond is None else x + self(cond)


def bias_rows(bias: Tensor | float) -> Tensor | None:
    """A bias (n, width, 1 or H, 1 or W) as (n, 1 or H, 1 or W, width), for per-row and per-position steps; None
    for no bias."""
    return bias.permute(0, 2, 3, 1) if isinstance(bias, Tensor) else None


def bias_at(bias: Tensor | None, i: int, j: int | None = None) -> Tensor | None:
    """Row i of a `bias_rows` bias, (n, 1 or W, width), or its position (i, j), (n, width)."""
    if bias is None:
        return None
    row = bias[:, i if bias.shape[1] > 1 else 0]
    return row if j is None else row[:, j if row.shape[1] > 1 else 0]


class MixtureImageModel(ImageModel):
    """Base of PixelCNN++ and PixelSNAIL: the network is causal over whole pixels (a pixel's parameters depend on
    earlier pixels only) and a discretized logistic mixture head orders the colour channels inside the pixel, with
    the linear R → G → B coupling of PixelCNN++ for colour data.

    With `objective="dequantized"` the model trains on the continuous mixture density of uniformly dequantized
    data instead (the PixelCNN++ paper's comparison); likelihood, evaluation and sampling stay discrete.
    """

    features_per_pixel = True  # the network is causal over whole pixels; the head couples a pixel's channels

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        if self.embedding is None:
            self.head = DiscretizedLogisticMixture(self.levels, config.components, self.colours)
            self.params_per_dim = self.head.params_per_position
        # codes are nominal: no mixture over an order they do not have, the K-way softmax of `discrete_head`

    @property
    def out_channels(self) -> int:
        return self.params_per_dim

    def to_params(self, out: Tensor) -> Tensor:
        """(B, P, H, W) → (B, 1, H, W, P) for grey, (B, H, W, P) for colour (the coupled head's layout)."""
        params = out.permute(0, 2, 3, 1)
        return params.unsqueeze(1) if self.colours == 1 else params

    def network_input(self, x: Tensor) -> Tensor:
        """Encoded pixels plus a channel of ones, so that the zero padding of the causal convolutions differs from
        data: (B, C + 1, H, W) (codes: (B, E + 1, H, W))."""
        scaled = self.encode(x)
        return torch.cat([scaled, torch.ones_like(scaled[:, :1])], dim=1)

    def dequantized_log_prob(self, x: Tensor, cond: Tensor | None = None, generator=None) -> Tensor:
        """(B,) log-density (per level units) of x + u, u ~ U[0, 1)^D: a lower bound on log p(x) of the continuous
        variant."""
        noise = torch.rand(x.shape, generator=generator, device=x.device)
        return self.head.dequantized_log_prob(self(x, cond), x, noise).flatten(1).sum(1)

    def training_log_prob(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        if self.config.objective == "dequantized":
            return self.dequantized_log_prob(x, cond)
        return super().training_log_prob(x, cond, step)


def check_mixture_config(config: Any, embed: int = 0) -> None:
    """Validate the fields PixelCNN++ and PixelSNAIL share (and the code embedding of a family that has one)."""
    check_image_config(config.shape, config.levels, {}, embed)
    if config.components < 1 or config.channels < 1:
        raise ConfigError(f"components={config.components} and channels={config.channels} must be ≥ 1")
    if not 0 <= config.dropout < 1:
        raise ConfigError(f"dropout={config.dropout} must be in [0, 1)")
    if config.objective not in ("discrete", "dequantized"):
        raise ConfigError(f"objective={config.objective!r}; choose discrete or dequantized")
    if embed and config.objective == "dequantized":
        raise ConfigError("codes have no order to dequantize: objective=dequantized needs embed=0")
    if config.num_classes < 0 or config.cond_dim < 0:
        raise ConfigError("num_classes and cond_dim must be ≥ 0")
