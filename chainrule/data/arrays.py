"""User arrays: a `.npy` file (N, *shape) or a `.npz` with `x` (and optional `y`, `x_test`, `y_test`, `levels`).

Values must be integers in [0, 256). (N, H, W) arrays get a channel axis: (N, 1, H, W). Without a `levels` entry,
the level count is 2 when every value is 0 or 1, otherwise 256.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from chainrule.data.source import Source
from chainrule.errors import DataFormatError


def _images(array: np.ndarray, path: Path) -> np.ndarray:
    if array.dtype.kind not in "iub" or array.ndim < 2:
        raise DataFormatError(f"{path}: need an integer array (N, ...), got {array.dtype} {array.shape}")
    if not len(array):
        raise DataFormatError(f"{path} holds no examples (shape {array.shape})")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise DataFormatError(f"{path}: values must lie in 0..255, found {array.min()}..{array.max()}")
    return (array[:, None] if array.ndim == 3 else array).astype(np.uint8)


def load_array(path: Path) -> Source:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataFormatError(f"{path} is not a readable .npy/.npz file ({err.__class__.__name__})") from None
    if isinstance(loaded, np.ndarray):
        parts = {"x": loaded}
    else:
        with loaded:
            parts = {k: loaded[k] for k in loaded.files}
        if "x" not in parts:
            raise DataFormatError(f"{path}: an .npz needs an array named 'x' (found {', '.join(parts) or 'none'})")
    x = _images(parts["x"], path)
    labels = parts.get("y")
    test = (_images(parts["x_test"], path), parts.get("y_test")) if "x_test" in parts else None
    if "levels" in parts:
        levels = int(parts["levels"])
    else:
        levels = 2 if x.max(initial=0) <= 1 and (test is None or test[0].max(initial=0) <= 1) else 256
    classes = int(labels.max()) + 1 if labels is not None and labels.size else 0
    return Source(train=(x, labels), test=test, source_levels=levels, num_classes=classes)
