"""photos32: 32x32 RGB patches of real photographs, for the colour models.

Nothing CIFAR-like installs from the package registries, so this set is cut from the 12 nature photographs of the
Debian package `mate-backgrounds` (/usr/share/backgrounds/mate/nature/*.jpg, GPL-2+): each photo is reduced 4x by
area averaging (which also removes the JPEG block artefacts), then tiled into disjoint 32x32 patches. The test
split is two whole photos (Storm, YellowFlower), so no test patch neighbours a training patch; validation patches
are drawn from the other ten photos. About 2,300 patches in all: enough to compare models, too few to reproduce
CIFAR-10 figures. Any folder of PNG images can be used instead (`--data PATH`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from chainrule.data.source import Source
from chainrule.errors import DataFormatError, DatasetNotFoundError

DEBIAN_DIR = Path("/usr/share/backgrounds/mate/nature")
INSTALL = "sudo apt-get install -y mate-backgrounds"
TEST_PHOTOS = ("Storm.jpg", "YellowFlower.jpg")
REDUCE, PATCH = 4, 32


def directory() -> Path:
    """Where the photos are: $CHAINRULE_PHOTOS, else the Debian package's folder."""
    return Path(os.environ.get("CHAINRULE_PHOTOS", DEBIAN_DIR))


def patches(path: Path) -> np.ndarray:
    """Disjoint PATCH x PATCH tiles of the photo reduced REDUCE times: uint8 (N, 3, PATCH, PATCH)."""
    try:
        with Image.open(path) as image:
            small = np.asarray(image.convert("RGB").reduce(REDUCE))
    except (OSError, ValueError) as err:
        raise DataFormatError(f"{path} is not a readable image ({err.__class__.__name__})") from None
    rows, cols = small.shape[0] // PATCH, small.shape[1] // PATCH
    tiles = small[: rows * PATCH, : cols * PATCH].reshape(rows, PATCH, cols, PATCH, 3)
    return tiles.transpose(0, 2, 4, 1, 3).reshape(-1, 3, PATCH, PATCH)


def load_photos() -> Source:
    folder = directory()
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(f"photos32 needs the photos of mate-backgrounds (none in {folder}): run `{INSTALL}`")
    train = [patches(f) for f in files if f.name not in TEST_PHOTOS]
    test = [patches(f) for f in files if f.name in TEST_PHOTOS]
    if not train or not test:
        raise DataFormatError(f"{folder} must hold {' and '.join(TEST_PHOTOS)} and other photos")
    return Source(train=(np.concatenate(train), None), test=(np.concatenate(test), None), source_levels=256)
