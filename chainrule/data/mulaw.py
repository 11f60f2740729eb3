"""Audio sample encodings: 8-bit μ-law (μ = 255, the WaveNet representation), 8-bit and 16-bit linear PCM.

μ-law: y = sign(x) · ln(1 + μ|x|) / ln(1 + μ) for x ∈ [-1, 1], code = floor((y + 1) / 2 · μ + 0.5) ∈ 0..255
(silence → 128). Decoding inverts y and maps it back: |x| = ((1 + μ)^|y| - 1) / μ.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from chainrule.errors import ConfigError

MU = 255
ENCODINGS = {"mulaw": 256, "pcm8": 256, "pcm16": 65536}


def mulaw_encode(x: Tensor, mu: int = MU) -> Tensor:
    """float x in [-1, 1] → long codes 0..mu."""
    x = x.clamp(-1.0, 1.0)
    y = torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)
    return torch.floor((y + 1) / 2 * mu + 0.5).long()


def mulaw_decode(code: Tensor, mu: int = MU) -> Tensor:
    """long codes 0..mu → float x in [-1, 1]."""
    y = code.double() * (2.0 / mu) - 1.0
    return (torch.sign(y) * ((1 + mu) ** y.abs() - 1) / mu).float()


def encode(x: Tensor, encoding: str) -> Tensor:
    """float samples in [-1, 1) → long codes of `encoding` (levels: ENCODINGS)."""
    if encoding == "mulaw":
        return mulaw_encode(x)
    if encoding == "pcm8":
        return (torch.floor(x.clamp(-1, 1) * 128) + 128).clamp(0, 255).long()
    if encoding == "pcm16":
        return (torch.round(x.clamp(-1, 1) * 32768) + 32768).clamp(0, 65535).long()
    raise ConfigError(f"encoding={encoding!r}; choose one of {', '.join(ENCODINGS)}")


def decode(code: Tensor, encoding: str) -> Tensor:
    """long codes → float samples in [-1, 1)."""
    if encoding == "mulaw":
        return mulaw_decode(code)
    if encoding == "pcm8":
        return (code.float() - 128) / 128
    if encoding == "pcm16":
        return (code.float() - 32768) / 32768
    raise ConfigError(f"encoding={encoding!r}; choose one of {', '.join(ENCODINGS)}")
