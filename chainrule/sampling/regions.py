"""Regions to hide for completion: mark part of each image unknown (-1) in a `known` tensor."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from chainrule.errors import ConfigError

Region = Literal["bottom", "top", "right", "left", "center", "random"]
REGIONS = ("bottom", "top", "right", "left", "center", "random")
RANDOM_SEED = 0  # the "random" region: half of the pixels, the same pattern for every image and every call


def hide(x: Tensor, region: Region = "bottom") -> Tensor:
    """A copy of x (B, ..., H, W) with `region` of the last two axes set to -1 (vectors: the last half).
    "center" hides the middle half of the rows and of the columns; "random" a fixed random half of the pixels
    (every channel of a hidden pixel)."""
    if region not in REGIONS:
        raise ConfigError(f"region={region!r}; choose one of {', '.join(REGIONS)}")
    known = x.clone().long()
    if known.dim() == 2:  # (B, D)
        known[:, known.shape[1] // 2 :] = -1
        return known
    h, w = known.shape[-2:]
    rows, cols = torch.arange(h)[:, None], torch.arange(w)[None, :]
    masks = {
        "bottom": rows >= h // 2,
        "top": rows < h // 2,
        "right": cols >= w // 2,
        "left": cols < w // 2,
        "center": (rows >= h // 4) & (rows < h - h // 4) & (cols >= w // 4) & (cols < w - w // 4),
        "random": torch.randperm(h * w, generator=torch.Generator().manual_seed(RANDOM_SEED)).view(h, w) < h * w // 2,
    }
    known[..., masks[region].expand(h, w)] = -1
    return known


def random_known(height: int, width: int, generator: torch.Generator) -> Tensor:
    """A random map of known pixels, bool (H, W), as completion meets them: with equal chance a hidden rectangle
    (each side a quarter to three quarters of the image's, anywhere in it), a hidden half (top, bottom, left or
    right), or a hidden random subset of a quarter to three quarters of the pixels. At least one pixel is
    hidden."""

    def between(low: int, high: int) -> int:  # an integer in [low, high]
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    rows, cols = torch.arange(height)[:, None], torch.arange(width)[None, :]
    kind = between(0, 2)
    if kind == 0:
        tall, wide = (
            between(max(1, height // 4), max(1, 3 * height // 4)),
            between(max(1, width // 4), max(1, 3 * width // 4)),
        )
        top, left = between(0, height - tall), between(0, width - wide)
        hidden = (rows >= top) & (rows < top + tall) & (cols >= left) & (cols < left + wide)
    elif kind == 1:
        side = between(0, 3)
        line, extent = (rows, height) if side < 2 else (cols, width)
        half = max(1, extent // 2)
        hidden = (line < half if side % 2 == 0 else line >= extent - half).expand(height, width)
    else:
        pixels = height * width
        count = between(max(1, pixels // 4), max(1, 3 * pixels // 4))
        hidden = (torch.randperm(pixels, generator=generator) < count).view(height, width)
    return ~hidden
