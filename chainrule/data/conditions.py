"""Image-to-image conditioning tasks made from any image set (`--condition`): what a conditional model is given as its
spatial map (`data.Condition`), computed from each image.

- `lowres:F`: the image area-downsampled by F (each F x F block averaged, rounded to the image's levels: what a
  low-resolution 8-bit file holds), the input of super-resolution (Dahl, Norouzi, Shlens 2017, arXiv 1702.00783);
- `grey`: the luminance (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, rounded), the input of colourisation.

The conditioning image is kept in the image's levels (`source`), as a user's file would hold it; the model reads it
scaled to [-1, 1] (`to_map`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from chainrule.errors import ConfigError, InputError

LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ConditionTask:
    """name: "lowres" or "grey"; factor: the downsampling of lowres (1 for grey)."""

    name: str
    factor: int = 1

    @classmethod
    def parse(cls, spec: str) -> ConditionTask:
        """ "lowres:F" or "grey".

        Raises:
            ConfigError: anything else."""
        name, _, factor = spec.partition(":")
        if name == "grey" and not factor:
            return cls("grey")
        if name == "lowres" and factor.isdigit() and int(factor) >= 2:
            return cls("lowres", int(factor))
        raise ConfigError(f"--condition {spec!r}: choose lowres:F (F ≥ 2, the downsampling) or grey")

    def __str__(self) -> str:
        return f"lowres:{self.factor}" if self.name == "lowres" else "grey"

    def check(self, shape: tuple[int, ...]) -> None:
        """Raise `ConfigError` unless images (C, H, W) of `shape` fit the task."""
        if len(shape) != 3:
            raise ConfigError(f"--condition {self} takes images (C, H, W), not data of shape {tuple(shape)}")
        if self.name == "grey" and shape[0] != 3:
            raise ConfigError(f"--condition grey takes colour images; these have {shape[0]} channel(s)")
        if self.name == "lowres" and (shape[1] % self.factor or shape[2] % self.factor):
            raise ConfigError(
                f"--condition {self}: the image side {shape[1]}x{shape[2]} is not a multiple of {self.factor}"
            )

    def source_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """The conditioning image's (C, h, w) for images of `shape`."""
        c, h, w = shape
        return (1, h, w) if self.name == "grey" else (c, h // self.factor, w // self.factor)

    def source(self, x: Tensor, levels: int) -> Tensor:
        """Images long (N, C, H, W) → their conditioning images, long, in the same levels."""
        x = x.float()
        if self.name == "grey":
            weights = torch.tensor(LUMA, device=x.device)[None, :, None, None]
            out = (x * weights).sum(1, keepdim=True)
        else:
            out = F.avg_pool2d(x, self.factor)
        return out.round().clamp(0, levels - 1).long()

    def to_map(self, source: Tensor, levels: int) -> Tensor:
        """Conditioning images (long, in levels) → the float map the model reads, in [-1, 1]."""
        return source.float() * (2.0 / (levels - 1)) - 1.0

    def prepare(self, images: list, shape: tuple[int, ...], levels: int) -> tuple[Tensor, list[Tensor | None]]:
        """A user's images (C, H, W) integer arrays or tensors → (their conditioning images long (N, *source
        shape), the originals where an input was at the model's `shape`: those are reduced first).

        Raises:
            InputError: values outside the levels, or an image of neither size."""
        small = self.source_shape(shape)
        sources, originals = [], []
        for image in images:
            x = torch.as_tensor(image).long()
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
                raise InputError(
                    f"an input has values {int(x.min())}..{int(x.max())}; this model takes 0..{levels - 1}"
                )
            if tuple(x.shape) == small:
                sources.append(x)
                originals.append(None)
            elif tuple(x.shape) == tuple(shape):
                sources.append(self.source(x[None], levels)[0])
                originals.append(x)
            else:
                sizes = f"{'x'.join(map(str, small))} (the input) or {'x'.join(map(str, shape))} (reduced first)"
                raise InputError(f"an input is {'x'.join(map(str, x.shape))}; this model takes {sizes} (C x H x W)")
        return torch.stack(sources), originals

    def shown(self, source: Tensor, shape: tuple[int, ...], levels: int, mode: str = "nearest") -> Tensor:
        """Conditioning images at the output size (N, C, H, W): enlarged ("nearest" or "bicubic"), grey in every
        channel."""
        if self.name == "grey":
            return source.expand(-1, shape[0], -1, -1)
        size = tuple(shape[1:])
        extra = {} if mode == "nearest" else {"align_corners": False}
        big = F.interpolate(source.float(), size=size, mode=mode, **extra)
        return big.round().clamp(0, levels - 1).long()

    def maps(self, x: Tensor, levels: int, batch: int = 4096) -> Tensor:
        """Images → the model's maps, float (N, *source_shape), in batches."""
        parts = [self.to_map(self.source(x[i : i + batch], levels), levels) for i in range(0, len(x), batch)]
        return torch.cat(parts) if parts else torch.zeros(0, *self.source_shape(tuple(x.shape[1:])))
