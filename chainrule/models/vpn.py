"""Video Pixel Networks (Kalchbrenner, van den Oord, Simonyan, Danihelka, Vinyals, Graves, Kavukcuoglu 2016, arXiv
1610.00527): p(video) = Π_t p(frame_t | frames_<t), each frame in raster order and R → G → B inside a pixel.

Three parts, each causal where it must be:
- a resolution-preserving encoder of each completed frame (`nn.frame_encoder`: dilated residual blocks, or the
  paper's residual multiplicative blocks with `block="multiplicative"`), which may see the whole frame;
- a convolutional LSTM over the encoded frames (`nn.conv_lstm`): its state after frames < t is the temporal context
  of frame t (zeros for the first frame);
- a decoder for the current frame: Gated PixelCNN's blind-spot-free vertical and horizontal stacks
  (`models.gated_pixelcnn.GatedLayer`), whose gates and first output layer read the temporal context at every
  position through 1x1 convolutions (the location-dependent conditioning of Gated PixelCNN).

Data: (T, C, H, W) frames at K levels (`data.kind` video). Binary data gets a Bernoulli head, more levels a K-way
softmax per sub-pixel. Grey frames given as probabilities (float values in [0, 1], the paper's protocol for Moving
MNIST: `binarize="soft"` data) train and evaluate a binary model by the cross-entropy of those probabilities
(`soft_dim_log_probs`), which is not a likelihood of discrete data; log p of binary videos stays exact.

Deviations from the paper: the decoder is Gated PixelCNN's (the paper's decoder is a stack of masked residual
multiplicative blocks); the temporal context enters the decoder as a bias of its gates rather than as an input
concatenated to it; the cpu preset is far smaller than the paper's network.

Generation (issue 22's design): at each frame the encoder reads the frame just completed and the ConvLSTM steps once
(`ConvLSTM.step`); inside a frame the decoder's layers step per row and per position (`GatedLayer.begin_row`,
`GatedLayer.step`). Frames given in full at the start of a completion are read once each, never stepped through
(`cache_prefix`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from chainrule.data.condition import Condition
from chainrule.data.kind import DataKind
from chainrule.distributions import Bernoulli, discrete_head
from chainrule.errors import ConfigError, InputError
from chainrule.models.base import AutoregressiveModel, check_shape_levels, index_rows, register
from chainrule.models.footprint import Footprint, conv, masked_network
from chainrule.models.gated_pixelcnn import GatedLayer, GatedLayerState
from chainrule.models.image import ConditionEmbedding, Context, bias_at, bias_rows
from chainrule.nn.conv_lstm import ConvLSTM, ConvLSTMState, conv_lstm_weights
from chainrule.nn.frame_encoder import BLOCKS, FrameEncoder, frame_encoder_weights
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import SHARED, Pointwise


@dataclass(frozen=True)
class VPNConfig:
    """Video Pixel Network hyper-parameters.

    Attributes:
        shape, levels: the data: (T, C, H, W) frames with K levels.
        channels: feature maps per decoder stack (a multiple of C).
        layers: decoder gated layers (the first one is type A).
        kernel, first_kernel: decoder stack widths (odd).
        hidden: width of the first 1x1 output layer (a multiple of C).
        encoder_channels: width of the frame encoder.
        dilations: one encoder residual block per entry, with that dilation.
        block: "relu" (bottleneck residual blocks) or "multiplicative" (the paper's multiplicative units).
        lstm_channels, lstm_kernel: the ConvLSTM's state width and kernel (odd).
    """

    shape: tuple[int, ...]
    levels: int
    channels: int = 64
    layers: int = 8
    kernel: int = 3
    first_kernel: int = 7
    hidden: int = 256
    encoder_channels: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    block: str = "relu"
    lstm_channels: int = 64
    lstm_kernel: int = 3

    def __post_init__(self) -> None:
        check_shape_levels(self.shape, self.levels)
        if len(self.shape) != 4:
            raise ConfigError(f"shape={tuple(self.shape)} must be (frames, channels, height, width) for a video model")
        colours = self.shape[1]
        for name in ("channels", "hidden"):
            width = getattr(self, name)
            if width < 1 or width % colours:
                raise ConfigError(f"{name}={width} must be a positive multiple of the {colours} colour channels")
        if self.layers < 1 or self.kernel % 2 == 0 or self.first_kernel % 2 == 0 or self.lstm_kernel % 2 == 0:
            raise ConfigError(
                f"layers={self.layers} must be ≥ 1 and kernels odd ({self.kernel}, {self.first_kernel}, "
                f"{self.lstm_kernel})"
            )
        if self.encoder_channels < 1 or self.lstm_channels < 1 or any(d < 1 for d in self.dilations):
            raise ConfigError("encoder_channels and lstm_channels must be ≥ 1, dilations ≥ 1")
        if self.block not in BLOCKS:
            raise ConfigError(f"block={self.block!r}; choose one of {', '.join(BLOCKS)}")

    def footprint(self) -> Footprint:
        c, f, m = self.shape[1], self.channels, self.lstm_channels
        per_dim = discrete_head(self.levels)[1]

        def layer(inputs: int, k: int) -> int:
            stacks = conv(inputs, 2 * f, k // 2 + 1, k) + conv(inputs, 2 * f, 1, k // 2 + 1)
            return stacks + conv(2 * f, 2 * f, 1, 1) + conv(f, f, 1, 1) + 2 * m * 2 * f

        weights = (
            frame_encoder_weights(c, self.encoder_channels, self.dilations, self.block)
            + conv_lstm_weights(self.encoder_channels, m, self.lstm_kernel)
            + layer(c, self.first_kernel)
            + (self.layers - 1) * layer(f, self.kernel)
            + conv(f, self.hidden, 1, 1)
            + conv(self.hidden, c * per_dim, 1, 1)
            + m * self.hidden
        )
        modules = 16 + 14 * self.layers + 8 * len(self.dilations)
        return masked_network(weights, modules=modules, masks=weights)


@register(
    "vpn",
    config=VPNConfig,
    kind="video",
    colour_fields=("channels", "hidden"),
    tiny=dict(
        channels=6, layers=2, kernel=3, first_kernel=3, hidden=12, encoder_channels=4, dilations=(1, 2), lstm_channels=4
    ),
    presets={
        # sized for 2 cores: one 20-frame 64x64 sequence is 82k positions per example; each validation scores 32
        # fixed videos (`chainrule eval RUN --given 10 --limit N` scores the test set; the zoo run validated 64)
        "cpu": dict(
            channels=16,
            layers=4,
            kernel=3,
            first_kernel=5,
            hidden=32,
            encoder_channels=16,
            dilations=(1, 2, 4, 8),
            lstm_channels=16,
            train=dict(batch_size=4, lr=3e-3, eval_examples=32, eval_batch_size=8),
        ),
        # the paper's widths (its section 5: 256-channel encoder of 8 blocks, dilations 1, 2, 4, 8 twice, a 256-channel
        # ConvLSTM, a 12-layer decoder), for a GPU
        "paper": dict(
            channels=128,
            layers=12,
            kernel=3,
            first_kernel=7,
            hidden=256,
            encoder_channels=256,
            dilations=(1, 2, 4, 8, 1, 2, 4, 8),
            block="multiplicative",
            lstm_channels=256,
            train=dict(batch_size=16, lr=3e-4, eval_examples=1000, eval_batch_size=16),
        ),
    },
)
class VideoPixelNetwork(AutoregressiveModel):
    """long (B, T, C, H, W) → head params (B, T, C, H, W, P); float probabilities (binary models) train softly."""

    def __init__(self, config: VPNConfig) -> None:
        super().__init__(config)
        frames, self.colours, height, width = self.shape
        c, f, m = self.colours, config.channels, config.lstm_channels
        self.head, self.params_per_dim = discrete_head(self.levels)
        self.encoder = FrameEncoder(c, config.encoder_channels, tuple(config.dilations), config.block)
        self.lstm = ConvLSTM(config.encoder_channels, m, config.lstm_kernel)
        self.layers = nn.ModuleList(
            GatedLayer(
                c if i == 0 else f,
                f,
                config.first_kernel if i == 0 else config.kernel,
                "A" if i == 0 else "B",
                c,
                0,
                0,
                m,
            )
            for i in range(config.layers)
        )
        self.hidden = MaskedConv2d(f, config.hidden, 1, "B", c)
        self.output = MaskedConv2d(config.hidden, c * self.params_per_dim, 1, "B", c)
        self.head_cond = ConditionEmbedding(0, 0, config.hidden, m)  # the temporal context's direct path
        for module in self.modules():  # the context is this model's main input, not an extra to start at zero
            if isinstance(module, ConditionEmbedding) and module.map is not None:
                module.map.reset_parameters()

    @property
    def data_kind(self) -> DataKind:
        return DataKind.video(self.levels)

    @property
    def frame_dims(self) -> int:
        """Dimensions of one frame, C·H·W."""
        return math.prod(self.shape[1:])

    @property
    def order(self) -> Tensor:
        """Frame by frame; inside a frame row by row, R before G before B within a pixel."""
        flat = torch.arange(self.dims).reshape(self.shape)
        return flat.permute(0, 2, 3, 1).reshape(-1)

    @property
    def row_steps(self) -> int:
        return self.shape[1] * self.shape[3]

    def encode(self, x: Tensor) -> Tensor:
        """Values (long) or probabilities (float, binary models) → float in [-1, 1], any shape."""
        if x.dtype.is_floating_point:
            return x * 2.0 - 1.0
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    # --- the network ----------------------------------------------------------------------------------------

    def temporal_context(self, frames: Tensor) -> Tensor:
        """Encoded frames (B, T, C, H, W) → the ConvLSTM state before each frame, (B, T, L, H, W) (zeros first)."""
        b, t, c, h, w = frames.shape
        start = frames.new_zeros(b, 1, self.config.lstm_channels, h, w)
        if t == 1:
            return start
        features = self.encoder(frames[:, :-1].reshape(b * (t - 1), c, h, w))
        states = self.lstm(features.view(b, t - 1, -1, h, w))
        return torch.cat([start, states], dim=1)

    def decode(self, frames: Tensor, context: Tensor) -> Tensor:
        """Frames (N, C, H, W) and their temporal context (N, L, H, W) → the last layer's output (N, C·P, H, W)."""
        ctx = Context(features=context)
        v = h = frames
        for layer in self.layers:
            v, h = layer(v, h, ctx)
        hidden = self.head_cond.add(self.hidden(torch.relu(h)), ctx)
        return self.output(torch.relu(hidden))

    def forward(self, x: Tensor, cond: Tensor | Condition | None = None) -> Tensor:
        b, t, c, h, w = x.shape
        frames = self.encode(x)
        context = self.temporal_context(frames)
        out = self.decode(frames.reshape(b * t, c, h, w), context.flatten(0, 1))
        params = out.reshape(b, t, c, self.params_per_dim, h, w)
        return params.permute(0, 1, 2, 4, 5, 3)

    # --- grey frames read as Bernoulli probabilities (the paper's Moving MNIST protocol) ---------------------

    def check_soft(self, p: Tensor) -> Tensor:
        """Probabilities (B, *shape) in [0, 1] for a binary model.

        Raises:
            InputError: for a model of more than 2 levels, a wrong shape or values outside [0, 1]."""
        if self.levels != 2:
            raise InputError(f"grey values read as probabilities need a binary model, not one of {self.levels} levels")
        if tuple(p.shape[1:]) != self.shape:
            raise InputError(f"x has shape {tuple(p.shape)}; this model takes (B, {', '.join(map(str, self.shape))})")
        if p.numel() and (float(p.min()) < 0 or float(p.max()) > 1 or not bool(torch.isfinite(p).all())):
            raise InputError("probabilities must lie in [0, 1]")
        return p.float()

    def soft_dim_log_probs(self, p: Tensor) -> Tensor:
        """E_{x ~ Bernoulli(p)} log q(x_i | context): −(the cross-entropy of p against the model's conditional at
        each dimension), with the grey frames themselves as the context; (B, *shape)."""
        return Bernoulli.soft_log_prob(self(p), p)

    def dim_log_probs(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        if x.dtype.is_floating_point:  # soft targets (training and evaluation of `binarize="soft"` data)
            return self.soft_dim_log_probs(self.check_soft(x))
        return super().dim_log_probs(x, cond)

    def evaluation_sums(self, x: Tensor, cond: Tensor | None) -> dict[str, float]:
        if not x.dtype.is_floating_point:
            return super().evaluation_sums(x, cond)
        p = self.check_soft(x)
        return {"nats": -float(self.soft_dim_log_probs(p).double().sum()), "entropy": float(Bernoulli.entropy(p).sum())}

    def evaluation_result(self, sums: dict[str, float], examples: int) -> dict[str, float]:
        result = super().evaluation_result(sums, examples)
        frames = self.shape[0]
        result["nats_per_frame"] = result["nats"] / frames
        if "entropy" in sums:  # the cross-entropy's floor: the targets' own entropy
            result["bound_nats_per_frame"] = sums["entropy"] / (examples * frames)
        return result

    def frame_log_probs(self, x: Tensor) -> Tensor:
        """log p(frame_t | frames_<t) of every frame, (B, T): exact for values (long), the negative cross-entropy
        for probabilities (float, binary models)."""
        per_dim = (
            self.soft_dim_log_probs(self.check_soft(x))
            if x.dtype.is_floating_point
            else self.log_prob(x, reduction="none")
        )
        return per_dim.flatten(2).sum(2)

    # --- generation: per frame the encoder and one ConvLSTM step, per position the decoder ------------------

    def init_cache(self, n: int, cond: Tensor | None = None) -> VideoCache:
        device = self.output.weight.device
        frames, c, h, w = self.shape
        order = self.order.tolist()
        frame = self.frame_dims
        where = [(p // frame, p // (h * w) % c, p // w % h, p % w) for p in order]
        x = torch.zeros(n, *self.shape, dtype=torch.long, device=device)
        return VideoCache(x=x, lstm=self.lstm.init_state(n, h, w), where=where, flat=order)

    def begin_frame(self, cache: VideoCache, f: int) -> None:
        """Frame f starts (frames < f complete): the ConvLSTM reads the frames it has not read yet, and the decoder's
        layer states start with the new temporal context."""
        while cache.read < f:
            frame = self.encode(cache.x[:, cache.read])
            cache.lstm = self.lstm.step(cache.lstm, self.encoder(frame))
            cache.read += 1
        _, _, h, w = self.shape
        context = Context(features=cache.lstm.h)
        cache.stack = [layer.init_step(cache.x.shape[0], h, w, context) for layer in self.layers]
        cache.head = (self.hidden.as_pointwise(), self.output.as_pointwise())
        cache.head_bias = bias_rows(self.head_cond(context))

    def begin_row(self, cache: VideoCache, f: int, i: int) -> None:
        v = self.encode(cache.x[:, f, :, i - 1]).transpose(1, 2) if i else None
        for layer, state in zip(self.layers, cache.stack, strict=True):
            v = layer.begin_row(state, i, v)

    def pixel_params(self, cache: VideoCache, f: int, i: int, j: int) -> Tensor:
        h = self.encode(cache.x[:, f, :, i])
        for layer, state in zip(self.layers, cache.stack, strict=True):
            h = layer.step(state, j, h)
        hidden, output = cache.head
        inner = hidden(torch.relu(h))
        bias = bias_at(cache.head_bias, i, j)
        out = output(torch.relu(inner if bias is None else inner + bias))
        return out.view(out.shape[0], self.colours, 1, 1, self.params_per_dim)

    def cache_step(self, cache: VideoCache, previous: Tensor | None) -> Tensor:
        t = cache.t
        if previous is not None:
            cache.x.view(cache.x.shape[0], -1)[:, cache.flat[t - 1]] = previous.to(cache.x.device)
        f, channel, i, j = cache.where[t]
        if channel == 0 and j == 0:
            if i == 0:
                self.begin_frame(cache, f)
            self.begin_row(cache, f, i)
        cache.params = self.pixel_params(cache, f, i, j)  # the channel groups make group `channel` final now
        cache.t = t + 1
        return self.head.log_probs_at(cache.params, cache.x[:, f, :, i : i + 1, j : j + 1], (channel, 0, 0))

    def cache_prefix(self, cache: VideoCache, values: Tensor) -> Tensor:
        """Whole frames at the start are filed at once (the decoder never steps through them); the rest steps."""
        whole = min(values.shape[1] // self.frame_dims, self.shape[0] - 1) * self.frame_dims
        if whole == 0 or cache.t:
            return super().cache_prefix(cache, values)
        n = cache.x.shape[0]
        cache.x.view(n, -1)[:, cache.flat[:whole]] = values[:, :whole].to(cache.x.device)
        cache.t = whole
        log_probs = self.cache_step(cache, None)
        for value in values[:, whole:].unbind(1):
            log_probs = self.cache_step(cache, value)
        return log_probs

    def reorder_cache(self, cache: VideoCache, index: Tensor) -> VideoCache:
        return index_rows(cache, index, cache.x.shape[0])


@dataclass
class VideoCache:
    """The generation state of a Video Pixel Network."""

    x: Tensor  # long (n, T, C, H, W): the values so far
    lstm: ConvLSTMState  # the temporal state after frames < read
    where: list[tuple[int, int, int, int]] = field(metadata=SHARED)  # (frame, channel, row, column) of each step
    flat: list[int] = field(metadata=SHARED)  # the flat index of each step
    read: int = 0  # frames the ConvLSTM has read
    stack: list[GatedLayerState] = field(default_factory=list)  # the decoder's layer states for the current frame
    head: tuple[Pointwise, Pointwise] | None = field(default=None, metadata=SHARED)
    head_bias: Tensor | None = None  # (n, H, W, hidden): the temporal context's bias on the first output layer
    t: int = 0
    params: Tensor | None = None
