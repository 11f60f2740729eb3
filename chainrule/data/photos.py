"""photos32: 32x32 RGB patches of real photographs, for the colour models.

Nothing CIFAR-like installs from the package registries, so this set is cut from the 12 nature photographs of the
Debian package `mate-backgrounds` (/usr/share/backgrounds/mate/nature/*.jpg, GPL-2+): each photo is reduced 4x by
area averaging (which also removes the JPEG block artefacts), then tiled into disjoint 32x32 patches. The test
split is two whole photos (Storm, YellowFlower), so no test patch neighbours a training patch; validation patches
are drawn from the other ten photos. About 2,300 patches in all: enough to compare models, too few to reproduce
CIFAR-10 figures. Any folder of PNG images can be used instead (`--data PATH`).

photos64 (for the latent models, `models.vqvae`): the same photos reduced 2x. Training examples are 64x64 crops at
every 16-pixel offset of nine photos (overlapping crops: the random-crop augmentation, made once); validation is the
disjoint 64x64 tiles of a tenth photo (VALIDATION_PHOTO) and test those of the two test photos, so no validation or
test pixel was ever in a training crop.
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
VALIDATION_PHOTO = "Garden.jpg"  # photos64's validation photo
REDUCE64, PATCH64, STRIDE64 = 2, 64, 16


def directory() -> Path:
    """Where the photos are: $CHAINRULE_PHOTOS, else the Debian package's folder."""
    return Path(os.environ.get("CHAINRULE_PHOTOS", DEBIAN_DIR))


def reduced(path: Path, factor: int) -> np.ndarray:
    """The photo reduced `factor` times by area averaging: uint8 (H, W, 3)."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").reduce(factor))
    except (OSError, ValueError) as err:
        raise DataFormatError(f"{path} is not a readable image ({err.__class__.__name__})") from None


def crops(image: np.ndarray, size: int, stride: int) -> np.ndarray:
    """size x size crops of image (H, W, 3) at every `stride` offset: uint8 (N, 3, size, size)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size), axis=(0, 1))[::stride, ::stride]
    return np.ascontiguousarray(windows.reshape(-1, 3, size, size))


def patches(path: Path) -> np.ndarray:
    """Disjoint PATCH x PATCH tiles of the photo reduced REDUCE times: uint8 (N, 3, PATCH, PATCH)."""
    return crops(reduced(path, REDUCE), PATCH, PATCH)


def photo_files(name: str) -> list[Path]:
    folder = directory()
    files = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if not files:
        raise DatasetNotFoundError(f"{name} needs the photos of mate-backgrounds (none in {folder}): run `{INSTALL}`")
    return files


def load_photos64() -> Source:
    files = photo_files("photos64")
    held = {*TEST_PHOTOS, VALIDATION_PHOTO}
    if not held <= {f.name for f in files} or len(files) <= len(held):
        raise DataFormatError(f"{directory()} must hold {', '.join(sorted(held))} and other photos")
    parts = {
        split: [
            crops(reduced(f, REDUCE64), PATCH64, STRIDE64 if split == "train" else PATCH64)
            for f in files
            if (f.name in TEST_PHOTOS, f.name == VALIDATION_PHOTO) == where
        ]
        for split, where in (("train", (False, False)), ("val", (False, True)), ("test", (True, False)))
    }
    train, val, test = ((np.concatenate(parts[s]), None) for s in ("train", "val", "test"))
    return Source(train=train, val=val, test=test, source_levels=256)


def load_photos() -> Source:
    files = photo_files("photos32")
    train = [patches(f) for f in files if f.name not in TEST_PHOTOS]
    test = [patches(f) for f in files if f.name in TEST_PHOTOS]
    if not train or not test:
        raise DataFormatError(f"{directory()} must hold {' and '.join(TEST_PHOTOS)} and other photos")
    return Source(train=(np.concatenate(train), None), test=(np.concatenate(test), None), source_levels=256)
