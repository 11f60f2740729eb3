"""PNG grids of integer images (B, C, H, W) with values in [0, levels)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from chainrule.serialization import atomic_write_bytes


def to_images(x: Tensor) -> Tensor:
    """Give any data shape an image layout: (B, D) → (B, 1, 1, D), (B, H, W) → (B, 1, H, W)."""
    if x.dim() == 2:
        return x[:, None, None, :]
    if x.dim() == 3:
        return x[:, None]
    return x


def image_grid(
    x: Tensor,
    levels: int,
    columns: int | None = None,
    pad: int = 1,
    missing: Tensor | None = None,
    rim: tuple[int, int, int] | None = None,
) -> np.ndarray:
    """Tile images into one uint8 array (H', W', 3).

    Args:
        x: long (B, C, H, W), C = 1 (grey) or 3 (RGB), values in [0, levels).
        levels: the number of levels K; values are stretched to 0..255.
        columns: images per row (default ≈ sqrt(B)).
        pad: pixels of padding between images.
        missing: optional bool (B, C, H, W) marking hidden entries, drawn in a flat colour.
        rim: optional RGB colour of the padding (a frame of video marked as given or generated); default white.
    """
    x = to_images(x).detach().cpu().long()
    b, c, h, w = x.shape
    pixels = (x.float() * (255.0 / (levels - 1))).round().clamp(0, 255).to(torch.uint8)
    rgb = pixels.expand(b, 3, h, w) if c == 1 else pixels[:, :3]
    rgb = rgb.clone()
    if missing is not None:
        hidden = to_images(missing).cpu().any(dim=1, keepdim=True).expand(b, 3, h, w)
        colour = torch.tensor([200, 60, 60], dtype=torch.uint8)[None, :, None, None].expand(b, 3, h, w)
        rgb[hidden] = colour[hidden]
    columns = columns or max(1, int(np.ceil(np.sqrt(b))))
    rows = int(np.ceil(b / columns))
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, dtype=np.uint8)
    if rim is not None:
        grid[:] = np.array(rim, dtype=np.uint8)
    for i in range(b):
        r, col = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = rgb[i].permute(1, 2, 0).numpy()
    return grid


def png_bytes(array: np.ndarray, scale: int = 1) -> bytes:
    """A uint8 (H, W, 3) array as a PNG file's bytes, enlarged `scale` times (nearest neighbour)."""
    image = Image.fromarray(array)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(array: np.ndarray, path: str | Path, scale: int = 1) -> None:
    """Write a uint8 (H, W, 3) array as PNG, enlarged `scale` times (nearest neighbour), atomically."""
    atomic_write_bytes(path, png_bytes(array, scale))


def save_grid(
    x: Tensor, levels: int, path: str | Path, columns: int | None = None, missing: Tensor | None = None
) -> None:
    """`image_grid` written to `path`, enlarged so that small images stay visible."""
    grid = image_grid(x, levels, columns, missing=missing)
    scale = max(1, min(4, 128 // max(x.shape[-2:])))  # small images are enlarged up to 4x
    save_png(grid, path, scale)
