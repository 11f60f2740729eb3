"""A folder of PNG images of one size: grey → (1, H, W), colour → (3, H, W), 8 bits per channel.

When every image sits in a sub-folder, the sub-folder names (sorted) become class labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from chainrule.data.source import Source
from chainrule.errors import DataFormatError

MAX_PIXELS = 1 << 24


def read_png(path: Path) -> np.ndarray:
    """One image as uint8 (C, H, W), C = 1 for grey and 3 for colour (alpha dropped)."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DataFormatError(
                    f"{path} is {image.width}x{image.height}; images over {MAX_PIXELS} px are refused"
                )
            grey = image.mode in ("1", "L", "LA", "I", "I;16")
            array = np.asarray(image.convert("L" if grey else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DataFormatError(f"{path} is not a readable image ({err.__class__.__name__})") from None
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
