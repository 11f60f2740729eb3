"""Discretized logistic mixture over K levels (PixelCNN++, Salimans et al. 2017, arXiv 1701.05517).

Level k is mapped to the centre c_k = 2k/(K-1) - 1 of a bin of half-width h = 1/(K-1) in [-1, 1]; a logistic
component puts on level k the mass of its bin, the outer bins reaching to ±infinity, so the K masses sum to one.

With `channels = C > 1` the C values at one position (RGB of a pixel) are modelled jointly as in the paper: one
mixture component per pixel, and channel c's mean moves linearly with the values of the channels before it,
μ'_c = μ_c + Σ_{c'<c} tanh(α_{c,c'}) x_{c'}. The per-channel conditionals p(x_c | x_<c) that `log_prob` returns
are exact: the mixture weights are updated by the likelihood of the earlier channels (Bayes), so their sum over c
is log p(pixel). Deviation from the paper's code: bin masses are computed as
log σ(a) + log σ(-b) + log(1 - e^{b-a}) (a, b the scaled bin edges), stable everywhere, instead of a fallback to
the density at the bin centre when the difference of CDFs underflows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from chainrule.distributions.base import LikelihoodHead

LOG2 = 0.6931471805599453


def log1mexp(d: Tensor) -> Tensor:
    """log(1 - exp(-d)) for d > 0, accurate for small and large d (Mächler 2012)."""
    d = d.clamp(min=1e-12)
    small = torch.log(-torch.expm1(-d.clamp(max=LOG2)))
    large = torch.log1p(-torch.exp(-d.clamp(min=LOG2)))
    return torch.where(d < LOG2, small, large)


def bin_log_prob(level: Tensor, levels: int, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log P(level) of a logistic(mean, exp(log_scale)) discretized into `levels` bins on [-1, 1].

    `level` (long or float level indices) broadcasts against `mean` and `log_scale`.
    """
    half = 1.0 / (levels - 1)
    centre = level.to(mean.dtype) * (2 * half) - 1.0
    inv_scale = torch.exp(-log_scale)
    upper = (centre + half - mean) * inv_scale
    lower = (centre - half - mean) * inv_scale
    middle = F.logsigmoid(upper) + F.logsigmoid(-lower) + log1mexp(2 * half * inv_scale)
    first = level <= 0
    last = level >= levels - 1
    return torch.where(first, F.logsigmoid(upper), torch.where(last, F.logsigmoid(-lower), middle))


def dequantized_log_density(level: Tensor, noise: Tensor, levels: int, mean: Tensor, log_scale: Tensor) -> Tensor:
    """log-density, per unit of level, of a logistic(mean, exp(log_scale)) at the point `noise` ∈ [0, 1) of the way
    through the bin of `level` (the bins of `bin_log_prob`, each of width 2/(K-1) on [-1, 1])."""
    half = 1.0 / (levels - 1)
    y = level.to(mean.dtype) * (2 * half) - 1.0 + (2 * noise.to(mean.dtype) - 1) * half
    z = (y - mean) * torch.exp(-log_scale)
    return -z - 2 * F.softplus(-z) - log_scale + math.log(2 * half)


class DiscretizedLogisticMixture(LikelihoodHead):
    """Mixture of `components` discretized logistics per position.

    Args:
        levels: number of levels K (≥ 2).
        components: mixture components M.
        channels: 1 for a plain per-dimension mixture; C > 1 couples axis 0 of the data shape (the colour
            channels) with the linear within-pixel dependency of PixelCNN++.

    Parameter layout (last axis) per position: [mixture logits M | means C·M | log-scales C·M |
    coupling coefficients C(C-1)/2·M], channel-major within each group. Data (B, C, *S) ↔ params (B, *S, P);
    with channels=1 data (B, *shape) ↔ params (B, *shape, 3M).
    """

    def __init__(self, levels: int, components: int = 5, channels: int = 1, min_log_scale: float = -7.0) -> None:
        self.levels = levels
        self.components = components
        self.channels = channels
        self.min_log_scale = min_log_scale

    @property
    def params_per_position(self) -> int:
        c = self.channels
        return self.components * (1 + 2 * c + c * (c - 1) // 2)

    def param_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.channels == 1:
            return (*shape, self.params_per_position)
        if shape[0] != self.channels:
            raise ValueError(f"shape {shape} must start with {self.channels} channels for a coupled mixture")
        return (*shape[1:], self.params_per_position)

    def _channels_last(self, x: Tensor) -> Tensor:
        """(B, *shape) data → (B, *S, C) with C = channels."""
        return x.unsqueeze(-1) if self.channels == 1 else x.movedim(1, -1)

    def _unpack(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """params (..., P) → log-weights (..., M), means, log-scales (..., C, M), coefficients (..., C(C-1)/2, M)."""
        m, c = self.components, self.channels
        params = params.float()
        logits, rest = params[..., :m], params[..., m:]
        lead = params.shape[:-1]
        means = rest[..., : c * m].reshape(*lead, c, m)
        log_scales = rest[..., c * m : 2 * c * m].reshape(*lead, c, m).clamp(min=self.min_log_scale)
        coeffs = torch.tanh(rest[..., 2 * c * m :].reshape(*lead, c * (c - 1) // 2, m))
        return torch.log_softmax(logits, dim=-1), means, log_scales, coeffs

    def _shifted_mean(self, means: Tensor, coeffs: Tensor, scaled: Tensor, channel: int) -> Tensor:
        """Channel `channel`'s means (..., M) moved by the earlier channels' values `scaled` (..., C) in [-1, 1]."""
        mean = means[..., channel, :]
        first_pair = channel * (channel - 1) // 2
        for earlier in range(channel):
            mean = mean + coeffs[..., first_pair + earlier, :] * scaled[..., earlier : earlier + 1]
        return mean

    def _scaled(self, xc: Tensor) -> Tensor:
        return xc.float() * (2.0 / (self.levels - 1)) - 1.0

    def _component_log_probs(self, params: Tensor, xc: Tensor, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Log mixture weights (..., M) and per-channel component log-probs of xc: (..., C, M). With `noise`
        (..., C) in [0, 1): log-densities of the dequantized values x + noise instead of bin masses."""
        log_weights, means, log_scales, coeffs = self._unpack(params)
        scaled = self._scaled(xc)
        per_channel = []
        for c in range(self.channels):
            mean, log_scale = self._shifted_mean(means, coeffs, scaled, c), log_scales[..., c, :]
            if noise is None:
                per_channel.append(bin_log_prob(xc[..., c : c + 1], self.levels, mean, log_scale))
            else:
                per_channel.append(
                    dequantized_log_density(xc[..., c : c + 1], noise[..., c : c + 1], self.levels, mean, log_scale)
                )
        return log_weights, torch.stack(per_channel, dim=-2)

    def log_prob(self, params: Tensor, x: Tensor) -> Tensor:
        return self._conditionals(params, x, None)

    def dequantized_log_prob(self, params: Tensor, x: Tensor, noise: Tensor) -> Tensor:
        """Per-dimension log-density, in units of one level, of the continuous mixture at the uniformly
        dequantized data x + noise (noise in [0, 1), shaped like x). Its sum is a lower bound on the discrete
        log p(x) of the same parameters (Jensen over each bin, and the edge bins here stop at the last level)."""
        return self._conditionals(params, x, noise)

    def _conditionals(self, params: Tensor, x: Tensor, noise: Tensor | None) -> Tensor:
        xc = self._channels_last(x)
        log_weights, comp = self._component_log_probs(params, xc, None if noise is None else self._channels_last(noise))
        # log p(x_≤c) for every c, by the running sum over channels inside each component
        upto = torch.logsumexp(log_weights.unsqueeze(-2) + comp.cumsum(dim=-2), dim=-1)  # (..., C)
        cond = upto - F.pad(upto[..., :-1], (1, 0))
        return cond.squeeze(-1) if self.channels == 1 else cond.movedim(-1, 1)

    def channel_log_probs(self, params: Tensor, xc: Tensor, channel: int) -> Tensor:
        """All-level log p(x_channel = k | x_<channel) at every position: params (..., P), xc (..., C) → (..., K)."""
        log_weights, means, log_scales, coeffs = self._unpack(params)
        if channel > 0:  # posterior weights after the earlier channels
            _, comp = self._component_log_probs(params, xc)
            log_weights = torch.log_softmax(log_weights + comp[..., :channel, :].sum(dim=-2), dim=-1)
        mean = self._shifted_mean(means, coeffs, self._scaled(xc), channel)
        grid = torch.arange(self.levels, device=params.device)
        levels = bin_log_prob(grid, self.levels, mean.unsqueeze(-1), log_scales[..., channel, :].unsqueeze(-1))
        return torch.logsumexp(log_weights.unsqueeze(-1) + levels, dim=-2)

    def log_probs_at(self, params: Tensor, x: Tensor, index: tuple[int, ...]) -> Tensor:
        if self.channels == 1:
            return self.channel_log_probs(params[(slice(None), *index)], x[(slice(None), *index)].unsqueeze(-1), 0)
        channel, *position = index
        at = (slice(None), *position)
        return self.channel_log_probs(params[at], x[(slice(None), slice(None), *position)], channel)

    def sample(self, params: Tensor, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """One component per position (mixture logits / temperature), then each channel in turn from its
        logistic (scale × temperature), discretized to the nearest level."""
        log_weights, means, log_scales, coeffs = self._unpack(params)
        lead = log_weights.shape[:-1]
        flat = torch.softmax(log_weights.reshape(-1, self.components) / temperature, dim=-1)
        pick = torch.multinomial(flat, 1, generator=generator).reshape(*lead, 1)
        values = torch.zeros(*lead, self.channels, device=params.device, dtype=torch.long)
        for c in range(self.channels):
            mean = self._shifted_mean(means, coeffs, self._scaled(values), c).gather(-1, pick).squeeze(-1)
            scale = log_scales[..., c, :].gather(-1, pick).squeeze(-1).exp() * temperature
            u = torch.rand(lead, generator=generator, device=params.device).clamp(1e-7, 1 - 1e-7)
            y = mean + scale * (torch.log(u) - torch.log1p(-u))
            values[..., c] = torch.round((y + 1) * (self.levels - 1) / 2).clamp(0, self.levels - 1).long()
        return values.squeeze(-1) if self.channels == 1 else values.movedim(-1, 1)
