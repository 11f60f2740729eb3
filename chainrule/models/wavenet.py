"""WaveNet (van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio", arXiv 1609.03499).

Inputs (shifted right behind a start token, embedded) pass through `stacks` repetitions of `layers` causal
dilated convolutions with dilations 1, 2, ..., 2^(layers-1); each layer computes a gated unit
tanh(W_f * h + V_f c) ⊙ σ(W_g * h + V_g c), adds a 1x1 of it to the residual stream and another to the skip sum;
ReLU, 1x1, ReLU, 1x1 of the skips give a 256-way softmax over μ-law codes (or the discretized logistic mixture,
e.g. for 16-bit audio). Conditioning c: a class id (global: speaker / file group), or a per-frame feature sequence
(local: float (B, local_channels, frames), each frame repeated over `hop` samples).

The conditional of sample t reads the `receptive_field` = (kernel - 1) · stacks · (2^layers - 1) + 1 samples
before it. Generation keeps a queue of past inputs per layer (`nn.causal_conv.StackQueues`): O(layers) per sample,
with all layers' past taps read in one gather and multiplied in one batched product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.data.kind import DataKind
from chainrule.distributions import Categorical, DiscretizedLogisticMixture
from chainrule.errors import ConfigError, InputError
from chainrule.models.base import check_shape_levels, register
from chainrule.models.footprint import Footprint, embedding, masked_network
from chainrule.models.footprint import conv as weights_of
from chainrule.models.sequence import SequenceModel
from chainrule.nn.causal_conv import CausalConv1d, GatedStackStep
from chainrule.nn.gated import gate


@dataclass(frozen=True)
class WaveNetConfig:
    """WaveNet hyper-parameters.

    Attributes:
        shape, levels: (T,) training crop length and levels K (256 for 8-bit codes).
        rate, encoding: sample rate and encoding of the audio (saved with the model for writing WAV files).
        channels, skip_channels, hidden: residual width, skip width, width of the first output 1x1.
        layers, stacks, kernel: dilations 1 .. 2^(layers-1), repeated `stacks` times, kernel size.
        head: "softmax" (K-way) or "logistic" (discretized logistic mixture of `components`).
        num_classes: > 0 for global conditioning on a class id.
        local_channels, hop: > 0 for local conditioning on frames of `local_channels` features, `hop` samples each.
    """

    shape: tuple[int, ...]
    levels: int
    rate: int = 8000
    encoding: str = "mulaw"
    channels: int = 64
    skip_channels: int = 128
    hidden: int = 128
    layers: int = 10
    stacks: int = 3
    kernel: int = 2
    head: str = "softmax"
    components: int = 10
    num_classes: int = 0
    local_channels: int = 0
    hop: int = 0

    def __post_init__(self) -> None:
        check_shape_levels(self.shape, self.levels)
        if len(self.shape) != 1:
            raise ConfigError(f"shape={tuple(self.shape)} must be (length,) for wavenet")
        if min(self.channels, self.skip_channels, self.hidden, self.layers, self.stacks) < 1 or self.kernel < 2:
            raise ConfigError("channels, skip_channels, hidden, layers, stacks must be ≥ 1 and kernel ≥ 2")
        if self.head not in ("softmax", "logistic") or self.components < 1:
            raise ConfigError(f"head={self.head!r}: choose softmax or logistic (components ≥ 1)")
        if self.num_classes < 0 or self.local_channels < 0 or (self.local_channels > 0) != (self.hop > 0):
            raise ConfigError("num_classes ≥ 0; local_channels and hop are both > 0 or both 0")

    def footprint(self) -> Footprint:
        c, n = self.channels, self.layers * self.stacks
        mixture = DiscretizedLogisticMixture(self.levels, self.components)
        width = mixture.params_per_position if self.head == "logistic" else self.levels
        per_layer = weights_of(c, 2 * c, self.kernel) + weights_of(c, c, 1) + weights_of(c, self.skip_channels, 1)
        conditioning = embedding(self.num_classes, 2 * c * n) + (
            weights_of(self.local_channels, 2 * c * n, 1) if self.local_channels else 0
        )
        weights = (
            embedding(self.levels + 1, c)
            + n * per_layer
            + conditioning
            + weights_of(self.skip_channels, self.hidden, 1)
            + weights_of(self.hidden, width, 1)
        )
        return masked_network(weights, modules=8 + 3 * n)


@register(
    "wavenet",
    config=WaveNetConfig,
    kind="sequence",
    tiny=dict(channels=4, skip_channels=4, hidden=4, layers=2, stacks=1, components=2),
    presets={
        "cpu": dict(channels=32, skip_channels=64, hidden=64, layers=10, stacks=1, train=dict(batch_size=8, lr=2e-3)),
        "paper": dict(
            channels=64, skip_channels=256, hidden=256, layers=10, stacks=3, train=dict(batch_size=16, lr=1e-3)
        ),
    },
)
class WaveNet(SequenceModel):
    """long (B, T) [+ cond] → head params (B, T, P)."""

    def __init__(self, config: WaveNetConfig) -> None:
        super().__init__(config)
        if config.head == "logistic":
            self.head = DiscretizedLogisticMixture(self.levels, config.components)
            width = self.head.params_per_position
        else:
            self.head, width = Categorical(self.levels), self.levels
        c = config.channels
        self.embed = nn.Embedding(self.levels + 1, c)
        dilations = [2**i for i in range(config.layers)] * config.stacks
        self.convs = nn.ModuleList(CausalConv1d(c, 2 * c, config.kernel, d) for d in dilations)
        self.residual = nn.ModuleList(nn.Conv1d(c, c, 1) for _ in dilations)
        self.skip = nn.ModuleList(nn.Conv1d(c, config.skip_channels, 1) for _ in dilations)
        self.classes = nn.Embedding(config.num_classes, 2 * c * len(dilations)) if config.num_classes else None
        local = config.local_channels
        self.local = nn.Conv1d(local, 2 * c * len(dilations), 1) if local else None
        for table in (self.classes, self.local):  # start as the unconditional model (as the image models do)
            if table is not None:
                nn.init.zeros_(table.weight)
        self.hidden = nn.Conv1d(config.skip_channels, config.hidden, 1)
        self.output = nn.Conv1d(config.hidden, width, 1)

    @property
    def receptive_field(self) -> int:
        """Number of past samples a conditional reads."""
        c = self.config
        return (c.kernel - 1) * c.stacks * (2**c.layers - 1) + 1

    @property
    def data_kind(self) -> DataKind:
        return DataKind.audio(self.levels, self.config.encoding, self.config.rate)

    # --- conditioning -------------------------------------------------------------------------------------

    def check_cond(self, cond: Tensor | None, batch: int) -> None:
        if cond is None:
            return
        if isinstance(cond, Tensor) and cond.dtype.is_floating_point and cond.dim() == 3:
            if not self.local or tuple(cond.shape[:2]) != (batch, self.config.local_channels):
                raise InputError(f"local conditioning must be float ({batch}, {self.config.local_channels}, frames)")
            return
        super().check_cond(cond, batch)

    def conditioning(self, cond: Tensor | None, length: int) -> Tensor | None:
        """Per-layer gate biases: (B, layers, 2C, T or 1), or None."""
        if cond is None:
            return None
        n_layers, width = len(self.convs), 2 * self.config.channels
        if cond.dtype.is_floating_point:
            frames = cond.repeat_interleave(self.config.hop, dim=2)
            if frames.shape[2] < length:
                raise InputError(f"{cond.shape[2]} frames x hop {self.config.hop} cover fewer than {length} samples")
            return self.local(frames[:, :, :length]).reshape(cond.shape[0], n_layers, width, length)
        return self.classes(cond).reshape(cond.shape[0], n_layers, width, 1)

    # --- the network --------------------------------------------------------------------------------------

    def run(self, inputs: Tensor, cond: Tensor | None = None) -> Tensor:
        """Input ids (B, T) → head params (B, T, P)."""
        h = self.embed(inputs).transpose(1, 2)
        biases = self.conditioning(cond, inputs.shape[1])
        skips = 0.0
        for i, (conv, res, skip) in enumerate(zip(self.convs, self.residual, self.skip, strict=True)):
            z = conv(h) if biases is None else conv(h) + biases[:, i]
            g = gate(z)
            skips = skips + skip(g)
            h = h + res(g)
        out = self.output(F.relu(self.hidden(F.relu(skips))))  # type: ignore[arg-type]
        return out.transpose(1, 2)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self.run(self.shifted(x), cond)

    # --- documents ----------------------------------------------------------------------------------------

    def window_start(self, consumed: int, start: int) -> int:
        """The last receptive field is all a conditional reads: the naive generator recomputes only that."""
        return max(0, consumed - self.receptive_field)

    @torch.inference_mode()
    def stream_log_probs(self, tokens: Tensor, batch_size: int = 8, window: int = 16384) -> Tensor:
        """Exact per-sample log-probabilities of a long recording: windows of `window` samples, each computed
        with one receptive field of context before it (N,)."""
        device = next(self.parameters()).device
        tokens = tokens.to(device)
        n, rf = len(tokens), self.receptive_field
        out = torch.empty(n, device=device)
        starts = list(range(0, n, window))
        for i in range(0, len(starts), batch_size):
            for a in starts[i : i + batch_size]:
                left = max(0, a - rf)
                piece = tokens[left : a + window][None]
                lp = self.head.log_prob(self.forward(piece), piece)[0]
                out[a : a + window] = lp[a - left :]
        return out

    # --- fast generation ----------------------------------------------------------------------------------

    # the stack's step through the compiled kernel (`nn.native`, where a C compiler is installed); False: the
    # PyTorch step (the reference the compiled one is tested against)
    compiled_step: bool = True

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        """The stack's one-step state (`nn.causal_conv.GatedStackStep`: queues of past layer inputs, weights as
        matrices) and the condition."""
        weight = self.embed.weight
        self.check_cond(cond, n)
        return {
            "n": n,
            "t": 0,
            "stack": GatedStackStep(
                self.convs, self.residual, self.skip, n, head=(self.hidden, self.output), compiled=self.compiled_step
            ),
            "cond": cond,
            "dummy": torch.zeros(n, 1, dtype=torch.long, device=weight.device),
        }

    def reorder_cache(self, cache: dict[str, Any], index: Tensor) -> dict[str, Any]:
        """Only the queues of past inputs and the condition are per row."""
        cache["stack"].reorder(index)
        if cache["cond"] is not None:
            cache["cond"] = cache["cond"][index]
        return cache

    def cache_step(self, cache: dict[str, Any], previous: Tensor | None) -> Tensor:
        device, t, n, stack = cache["dummy"].device, cache["t"], cache["n"], cache["stack"]
        token = torch.full((n,), self.start, device=device) if previous is None else previous.to(device)
        torch.index_select(self.embed.weight, 0, token, out=stack.input_views[0])
        cond, biases = cache["cond"], None
        if cond is not None:
            if cond.dtype.is_floating_point:  # local conditioning: the frame that sample t lies in
                cond = cond[:, :, t // self.config.hop : t // self.config.hop + 1]
            biases = self.conditioning(cond, 1)[..., 0].transpose(0, 1)  # (layers, n, 2C)
        params = stack.step(t, biases)  # the stack and the output network
        cache["t"] = t + 1
        return self.head.log_probs_at(params[:, None], cache["dummy"], (0,))
