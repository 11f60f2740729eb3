"""MADE: Masked Autoencoder for Distribution Estimation (Germain et al. 2015, arXiv 1502.03509).

A multilayer perceptron whose weight matrices are masked so that output d only sees inputs earlier than d in a
fixed order (natural = raster, or a seeded random permutation). Connectivity-agnostic training draws the hidden
degrees afresh for each of `num_masks` masks and cycles through them, one per minibatch; evaluation averages the
probabilities of `eval_masks` of them (log-mean-exp). Every mask shares the input order, so the ensemble is itself
an autoregressive model in that order and its per-dimension conditionals are exact: the weight of mask m at
dimension t is its posterior given x_order[<t].

Deviations: inputs of K > 2 levels are one-hot encoded (scalar inputs as an option); `direct` adds the masked
input→output connections of the NADE family, off by default as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.data.kind import DataKind
from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import AutoregressiveModel, check_shape_levels, raster_order, register
from chainrule.models.footprint import FLOAT, MODULE, Footprint, conv
from chainrule.nn.masked_linear import MaskedLinear, hidden_degrees, hidden_mask, output_mask
from chainrule.orders import Ordering


@dataclass(frozen=True)
class MADEConfig:
    """MADE hyper-parameters.

    Attributes:
        shape, levels: the data (any fixed shape, K levels).
        hidden: widths of the hidden layers.
        order: "natural" (raster; R→G→B within a pixel) or "random" (a permutation drawn from `seed`).
        num_masks: connectivity masks cycled during training (1 = a fixed mask).
        eval_masks: masks averaged at evaluation and sampling; 0 means all `num_masks`.
        inputs: "one-hot" or "scalar" input encoding; "auto" = one-hot for 2 < K ≤ 16, scalar otherwise.
        direct: add masked direct input→output connections.
        seed: seeds the order and the masks (part of the architecture, saved with it).
    """

    shape: tuple[int, ...]
    levels: int
    hidden: tuple[int, ...] = (500,)
    order: Literal["natural", "random"] = "natural"
    num_masks: int = 1
    eval_masks: int = 0
    inputs: Literal["auto", "one-hot", "scalar"] = "auto"
    direct: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        check_shape_levels(self.shape, self.levels)
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ConfigError(f"hidden={self.hidden} must be one or more positive widths")
        if self.num_masks < 1:
            raise ConfigError(f"num_masks={self.num_masks} must be at least 1")
        if not 0 <= self.eval_masks <= self.num_masks:
            raise ConfigError(f"eval_masks={self.eval_masks} must be in 0..num_masks={self.num_masks}")

    def footprint(self) -> Footprint:
        """Weights, and the work of building every connectivity mask (bool, one per weight and mask)."""
        dims, k = math.prod(self.shape), self.levels
        units = k if self.inputs == "one-hot" or (self.inputs == "auto" and 2 < k <= 16) else 1
        per_dim = discrete_head(k)[1]
        widths = [dims * units, *self.hidden]
        hidden = sum(conv(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        mask = sum(a * b for a, b in zip(widths[:-1], widths[1:], strict=True)) + widths[-1] * dims * per_dim
        direct = widths[0] * dims * per_dim if self.direct else 0
        weights = hidden + conv(widths[-1], dims * per_dim) + direct
        per_mask = mask + direct + MODULE * (len(self.hidden) + 2)
        return Footprint(weights, FLOAT * weights + 8 * dims + self.num_masks * per_mask + MODULE * len(widths))


@register(
    "made",
    config=MADEConfig,
    tiny=dict(hidden=(16, 16), num_masks=2),
    presets={
        # sized for binary data; at 256 levels a 1000-unit output layer would hold D x 256 x 1000 weights
        "cpu": dict(
            hidden=(1000, 1000),
            num_masks=1,
            direct=True,
            train=dict(batch_size=100),
            many_levels=dict(hidden=(128,), direct=False),
        ),
        "paper": dict(hidden=(500,), num_masks=32, order="natural", train=dict(batch_size=100)),
    },
)
class MADE(AutoregressiveModel):
    """Masked MLP: long (B, *shape) → head params (B, *shape, P)."""

    def __init__(self, config: MADEConfig) -> None:
        super().__init__(config)
        D, K = self.dims, self.levels
        self.head, self.params_per_dim = discrete_head(self.levels)
        self.one_hot = config.inputs == "one-hot" or (config.inputs == "auto" and 2 < K <= 16)
        self.units_per_input = K if self.one_hot else 1

        g = torch.Generator().manual_seed(config.seed)
        order = torch.randperm(D, generator=g) if config.order == "random" else raster_order(self.shape)
        rank = torch.empty(D, dtype=torch.long)
        rank[order] = torch.arange(D)
        self.register_buffer("order_buffer", order, persistent=False)
        widths = [D * self.units_per_input, *config.hidden]
        self.layers = nn.ModuleList(MaskedLinear(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True))
        self.output = MaskedLinear(widths[-1], D * self.params_per_dim)
        self.direct = MaskedLinear(widths[0], D * self.params_per_dim, bias=False) if config.direct else None
        self.build_masks(rank + 1)

    def build_masks(self, input_degrees: Tensor) -> None:
        """Precompute every mask as a bool buffer (num_masks, out, in) per layer: `mask_<layer>`, `mask_output`,
        `mask_direct`. Derived from the config (seed), so not saved; built once, not on every call."""
        config, D = self.config, self.dims
        in_deg = input_degrees.repeat_interleave(self.units_per_input)
        out_deg = input_degrees.repeat_interleave(self.params_per_dim)
        masks: dict[str, list[Tensor]] = {}
        for m in range(config.num_masks):
            degrees = hidden_degrees(D, config.hidden, torch.Generator().manual_seed(config.seed * 7919 + m + 1))
            prev = in_deg
            for layer, deg in enumerate(degrees):
                masks.setdefault(f"mask_{layer}", []).append(hidden_mask(deg, prev))
                prev = deg
            masks.setdefault("mask_output", []).append(output_mask(out_deg, prev))
            masks.setdefault("mask_direct", []).append(output_mask(out_deg, in_deg))
        for name, per_mask in masks.items():
            if name != "mask_direct" or config.direct:
                self.register_buffer(name, torch.stack(per_mask), persistent=False)

    @property
    def data_kind(self) -> DataKind:
        """MADE takes any shape: images when (C, H, W), plain values otherwise."""
        return DataKind.image(self.levels) if len(self.shape) == 3 else DataKind.values(self.levels)

    @property
    def order(self) -> Tensor:
        return self.order_buffer.cpu()

    @property
    def ordering(self) -> Ordering:
        return Ordering.FIXED if self.config.order == "random" else Ordering.RASTER

    def encode(self, x: Tensor) -> Tensor:
        """long (B, *shape) → float (B, D·units_per_input)."""
        flat = x.reshape(x.shape[0], -1)
        if self.one_hot:
            return F.one_hot(flat, self.levels).float().flatten(1)
        return flat.float() / (self.levels - 1)

    def forward(self, x: Tensor, cond: Tensor | None = None, mask: int = 0) -> Tensor:
        """Head parameters under connectivity mask `mask`: (B, *shape, P)."""
        inputs = self.encode(x)
        h = inputs
        for layer, linear in enumerate(self.layers):
            h = torch.relu(linear(h, getattr(self, f"mask_{layer}")[mask]))
        out = self.output(h, self.mask_output[mask])
        if self.direct is not None:
            out = out + self.direct(inputs, self.mask_direct[mask])
        return out.reshape(x.shape[0], *self.shape, self.params_per_dim)

    @property
    def ensemble(self) -> int:
        return self.config.eval_masks or self.config.num_masks

    def training_log_prob(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        return self.head.log_prob(self(x, mask=step % self.config.num_masks), x).flatten(1).sum(1)

    def _mask_log_probs(self, x: Tensor) -> Tensor:
        """Per-mask, per-dimension log-probs in generation order: (M, B, D)."""
        order = self.order_buffer
        return torch.stack([self.head.log_prob(self(x, mask=m), x).flatten(1)[:, order] for m in range(self.ensemble)])

    def dim_log_probs(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        per_mask = self._mask_log_probs(x)
        if per_mask.shape[0] == 1:
            ordered = per_mask[0]
        else:  # log p(x_≤t) of the ensemble, then differences give the exact conditionals
            upto = torch.logsumexp(per_mask.cumsum(dim=-1), dim=0) - math.log(per_mask.shape[0])
            ordered = upto - F.pad(upto[:, :-1], (1, 0))
        result = torch.empty_like(ordered)
        result[:, self.order_buffer] = ordered
        return result.reshape(x.shape[0], *self.shape)

    def next_log_probs(self, x: Tensor, cond: Tensor | None, t: int) -> Tensor:
        index = tuple(int(i) for i in torch.unravel_index(self.order[t], self.shape))
        if self.ensemble == 1:
            return self.head.log_probs_at(self(x), x, index)
        before, levels = [], []
        for m in range(self.ensemble):  # one pass per mask gives both its prefix likelihood and its conditional
            params = self(x, mask=m)
            before.append(self.head.log_prob(params, x).flatten(1)[:, self.order_buffer[:t]].sum(-1))
            levels.append(self.head.log_probs_at(params, x, index))
        weights = torch.log_softmax(torch.stack(before), dim=0)  # (M, B): posterior of each mask given x_<t
        return torch.logsumexp(weights.unsqueeze(-1) + torch.stack(levels), dim=0)

    # --- incremental sampling -----------------------------------------------------------------------------

    def init_cache(self, n: int, cond: Tensor | None = None) -> dict[str, Any]:
        """Per mask: the masked weights once, and the first layer's pre-activations (and the direct outputs),
        updated by one input column per step: O(D·H) input work per sample instead of O(D²·H)."""
        device = self.order_buffer.device
        masks = []
        for m in range(self.ensemble):
            first = self.layers[0]
            entry = {
                "w_in": first.weight * self.mask_0[m],
                "pre": first.bias.expand(n, -1).clone(),
                "hidden": [(lin.weight * getattr(self, f"mask_{i}")[m], lin.bias) for i, lin in enumerate(self.layers)][
                    1:
                ],
                "w_out": self.output.weight * self.mask_output[m],
                "direct": None,
            }
            if self.direct is not None:
                entry["w_direct"] = self.direct.weight * self.mask_direct[m]
                entry["direct"] = torch.zeros(n, self.direct.out_features, device=device)
            masks.append(entry)
        return {"t": 0, "masks": masks, "prefix": torch.zeros(len(masks), n, device=device), "last": None}

    def input_columns(self, dim: int, value: Tensor) -> tuple[Tensor, Tensor]:
        """Input-unit indices (n,) and their values (n,) that dimension `dim` = `value` switches on."""
        if self.one_hot:
            return dim * self.levels + value, torch.ones_like(value, dtype=torch.float)
        return torch.full_like(value, dim), value.float() / (self.levels - 1)

    def reorder_cache(self, cache: dict[str, Any], index: Tensor) -> dict[str, Any]:
        for entry in cache["masks"]:  # the masked weights are shared; the pre-activations are per row
            entry["pre"] = entry["pre"][index]
            if entry["direct"] is not None:
                entry["direct"] = entry["direct"][index]
        cache["prefix"] = cache["prefix"][:, index]
        if cache["last"] is not None:
            cache["last"] = cache["last"][:, index]
        return cache

    def cache_step(self, cache: dict[str, Any], previous: Tensor | None) -> Tensor:
        t, order, P = cache["t"], self.order_buffer, self.params_per_dim
        if previous is not None:
            previous = previous.to(order.device)
            units, values = self.input_columns(int(order[t - 1]), previous)
            for entry in cache["masks"]:
                entry["pre"] += entry["w_in"][:, units].t() * values[:, None]
                if entry["direct"] is not None:
                    entry["direct"] += entry["w_direct"][:, units].t() * values[:, None]
            cache["prefix"] += cache["last"].gather(2, previous.view(1, -1, 1).expand(len(cache["masks"]), -1, 1))[
                ..., 0
            ]
        d = int(order[t])
        rows = slice(d * P, (d + 1) * P)
        levels = []
        for entry in cache["masks"]:
            h = torch.relu(entry["pre"])
            for weight, bias in entry["hidden"]:
                h = torch.relu(F.linear(h, weight, bias))
            params = F.linear(h, entry["w_out"][rows], self.output.bias[rows])
            if entry["direct"] is not None:
                params = params + entry["direct"][:, rows]
            dummy = torch.zeros(params.shape[0], 1, dtype=torch.long, device=params.device)
            levels.append(self.head.log_probs_at(params[:, None], dummy, (0,)))
        stacked = torch.stack(levels)  # (M, n, K)
        cache["last"], cache["t"] = stacked, t + 1
        if len(levels) == 1:
            return stacked[0]
        weights = torch.log_softmax(cache["prefix"], dim=0)  # posterior of each mask given the prefix
        return torch.logsumexp(weights.unsqueeze(-1) + stacked, dim=0)
