"""A folder of PNG images of one size: grey → (1, H, W), colour → (3, H, W), 8 bits per channel (16-bit grey
images are read with their values; an image whose values do not fit is refused, never clipped).

When every image sits in a sub-folder, the sub-folder names (sorted) become class labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from chainrule.data.source import Source
from chainrule.errors import DataFormatError, InputError

MAX_PIXELS = 1 << 24


def _png_bit_depth(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None for another format."""
    with open(path, "rb") as f:
        head = f.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def read_png(path: Path, levels: int = 256) -> np.ndarray:
    """One image as an integer array (C, H, W), C = 1 for grey and 3 for colour, with its values as stored: 8-bit
    images as uint8, 16-bit grey ones as their 16-bit values. Nothing is clipped or dropped silently.

    Args:
        levels: the values the caller can represent, 0..levels-1 (a model's levels; 256 for 8-bit data).

    Raises:
        DataFormatError: not a readable image, or too large.
        InputError: values the caller cannot represent: a 16-bit image with values ≥ levels, 16 bits per colour
            channel (not readable without loss), or an alpha channel that is not fully opaque; the message names
            the file, its mode and the allowed range.
    """
    try:
        depth = _png_bit_depth(path)
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataFormatError(
                    f"{path} is {image.width}x{image.height}; images over {MAX_PIXELS} px are refused"
                )
            mode = image.mode
            if depth is not None and depth[0] == 16 and depth[1] in (2, 6):
                raise InputError(
                    f"{path} is a 16-bit-per-channel colour PNG (mode {mode}); it cannot be read without loss: "
                    f"give 8-bit colour images (this takes values 0..{levels - 1})"
                )
            if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
                array = np.asarray(image).astype(np.int64)
            elif mode in ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "CMYK", "YCbCr"):
                alpha = mode in ("LA", "La", "PA", "RGBA", "RGBa") or (mode == "P" and "transparency" in image.info)
                grey = mode in ("1", "L", "LA", "La")
                if alpha:
                    opacity = np.asarray(image.convert("RGBA"))[..., 3]
                    if opacity.size and int(opacity.min()) < 255:
                        raise InputError(
                            f"{path} has a transparent alpha channel (mode {mode}); the alpha values would be lost: "
                            "give images without transparency"
                        )
                array = np.asarray(image.convert("L" if grey else "RGB"))
            else:
                raise InputError(f"{path} has image mode {mode}; give 8-bit grey or colour images, or 16-bit grey")
    except (InputError, DataFormatError):
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataFormatError(f"{path} is not a readable image ({err.__class__.__name__})") from None
    if array.size and int(array.max()) >= levels:
        raise InputError(
            f"{path} (mode {mode}) has values up to {int(array.max())}; this takes 0..{levels - 1} ({levels} levels)"
        )
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def load_png_files(files: list[Path], labels: np.ndarray | None = None, classes: int = 0) -> Source:
    """Images of one size and channel count, in the given order."""
    images = [read_png(p) for p in files]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise DataFormatError(f"{files[0].parent}: images differ in size or channels ({sorted(shapes)[:3]} ...)")
    return Source(train=(np.stack(images), labels), test=None, source_levels=256, num_classes=classes)


def load_png_folder(directory: Path) -> Source:
    files = sorted(p for p in directory.rglob("*") if p.suffix.lower() == ".png" and p.is_file())
    if not files:
        raise DataFormatError(f"{directory} holds no .png files")
    parents = [p.parent for p in files]
    if all(parent != directory for parent in parents):
        names = sorted({parent.name for parent in parents})
        labels = np.array([names.index(parent.name) for parent in parents], dtype=np.int64)
        return load_png_files(files, labels, len(names))
    return load_png_files(files)
