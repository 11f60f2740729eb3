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
