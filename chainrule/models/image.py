"""What the convolutional and recurrent image models share: (C, H, W) data, input scaling, the head, and the
layout of the output channels.

The network sees the levels scaled to [-1, 1], one input channel per colour channel. Its last layer emits
C · P channels in C colour groups of P (`nn.masked_conv.channel_groups`); `to_params` turns them into the head's
(B, C, H, W, P). Binary data gets a Bernoulli head, K > 2 levels a K-way softmax per sub-pixel.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from chainrule.distributions import discrete_head
from chainrule.errors import ConfigError
from chainrule.models.base import AutoregressiveModel, check_shape_levels


def check_image_config(shape: tuple[int, ...], levels: int, divisible: dict[str, int]) -> None:
    """Validate an image model config: shape (C, H, W) and feature widths divisible by C.

    Raises:
        ConfigError: naming the field at fault.
    """
    check_shape_levels(shape, levels)
    if len(shape) != 3:
        raise ConfigError(f"shape={tuple(shape)} must be (channels, height, width) for an image model")
    for name, width in divisible.items():
        if width < 1 or width % shape[0]:
            raise ConfigError(f"{name}={width} must be a positive multiple of the {shape[0]} colour channels")


class ImageModel(AutoregressiveModel):
    """Base of the image families: sets the head and conditioning embeddings; subclasses build `net`."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.colours = self.shape[0]
        self.head, self.params_per_dim = discrete_head(self.levels)

    @property
    def out_channels(self) -> int:
        """Channels of the last layer: C groups of P."""
        return self.colours * self.params_per_dim

    def encode(self, x: Tensor) -> Tensor:
        """long (B, C, H, W) → float (B, C, H, W) in [-1, 1]."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def to_params(self, out: Tensor) -> Tensor:
        """(B, C·P, H, W) → (B, C, H, W, P)."""
        b, _, h, w = out.shape
        return out.reshape(b, self.colours, self.params_per_dim, h, w).permute(0, 1, 3, 4, 2)


class ConditionEmbedding(nn.Module):
    """A per-example bias from a class id (embedding) or a conditioning vector (linear map): (B, width)."""

    def __init__(self, num_classes: int, cond_dim: int, width: int) -> None:
        super().__init__()
        self.classes = nn.Embedding(num_classes, width) if num_classes else None
        self.vector = nn.Linear(cond_dim, width, bias=False) if cond_dim else None

    def forward(self, cond: Tensor | None) -> Tensor | float:
        if cond is None:
            return 0.0
        table = self.classes if not torch.is_floating_point(cond) else self.vector
        return table(cond)[:, :, None, None]
