"""photos32: 32x32 RGB patches of real photographs, for the colour models.

Nothing CIFAR-like installs from the package registries, so this set is cut from the 12 nature photographs of the
Debian package `mate-backgrounds` (/usr/share/backgrounds/mate/nature/*.jpg, GPL-2+): each photo is reduced 4x by
area averaging (which also removes the JPEG block artefacts), then tiled into disjoint 32x32 patches. The test
split is two whole photos (Storm, YellowFlower), so no test patch neighbours a training patch; validation patches
are drawn from the other ten photos. About 2,300 patches in all: enough to compare models, too few to reproduce
CIFAR-10 figures. Any folder of PNG images can be used instead (`--data PATH`).

photos64 (for the latent models, `models.vqvae`): 25 photographs, the 12 above and the 13 photographs among the
wallpapers of Debian's `plasma-workspace-wallpapers` (KDE, GPL-2+; PLASMA_PHOTOS: the package's other wallpapers are
drawings and renders), each reduced by area averaging to about 1,280 pixels wide (the MATE photos 2x, the KDE ones
from their 2560-pixel version 2x, or 4x from 5120). Split by photograph, never by crop: test is the disjoint 64x64
tiles of TEST_PHOTOS (two of each package), validation those of VALIDATION_PHOTOS (one of each), and training
examples are 64x64 crops at every STRIDE64-pixel offset of the other 19 (overlapping crops: the random-crop
augmentation, made once), so no validation or test pixel was ever in a training crop.
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
PLASMA_DIR = Path("/usr/share/wallpapers")
PLASMA_INSTALL = "sudo apt-get install -y plasma-workspace-wallpapers"
INSTALL64 = "sudo apt-get install -y mate-backgrounds plasma-workspace-wallpapers"
PLASMA_PHOTOS = (  # the photographs among the package's wallpapers
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
    "MilkyWay", "OneStandsOut", "Path", "summer_1am", "Volna",
)  # fmt: skip
TEST_PHOTOS64 = ("Storm", "YellowFlower", "Kite", "FallenLeaf")
VALIDATION_PHOTOS64 = ("Garden", "ColdRipple")
WIDTH64, PATCH64, STRIDE64 = 1280, 64, 32


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


def plasma_dir() -> Path:
    """Where the KDE wallpapers are: $CHAINRULE_WALLPAPERS, else the Debian package's folder."""
    return Path(os.environ.get("CHAINRULE_WALLPAPERS", PLASMA_DIR))


def plasma_files() -> list[Path]:
    """Each of PLASMA_PHOTOS in its largest version up to 2,560 pixels wide, else its smallest larger one."""
    files = []
    for name in PLASMA_PHOTOS:
        versions = sorted((plasma_dir() / name / "contents" / "images").glob("*x*.*"))
        sizes = {}
        for path in versions:
            try:
                sizes[path] = int(path.stem.split("x")[0])
            except ValueError:
                continue
        if not sizes:
            raise DatasetNotFoundError(f"photos64 needs the photographs of the KDE wallpapers: run `{PLASMA_INSTALL}`")
        small = [p for p, w in sizes.items() if w <= 2560]
        files.append(max(small, key=sizes.get) if small else min(sizes, key=sizes.get))
    return files


def load_photos64() -> Source:
    files = photo_files("photos64") + plasma_files()
    names = {photo_name(f) for f in files}
    held = {*TEST_PHOTOS64, *VALIDATION_PHOTOS64}
    if not held <= names:
        raise DataFormatError(f"photos64 needs the photographs {', '.join(sorted(held - names))}")
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for f in files:
        name = photo_name(f)
        split = "test" if name in TEST_PHOTOS64 else "val" if name in VALIDATION_PHOTOS64 else "train"
        with Image.open(f) as image:
            width = image.size[0]
        photo = reduced(f, max(1, round(width / WIDTH64)))
        parts[split].append(crops(photo, PATCH64, STRIDE64 if split == "train" else PATCH64))
    train, val, test = ((np.concatenate(parts[s]), None) for s in ("train", "val", "test"))
    return Source(train=train, val=val, test=test, source_levels=256)


def load_photos64_mate() -> Source:
    """photos64 as it was before the KDE photographs joined (the zoo's photos pair was trained and measured on
    it): the twelve MATE photos reduced 2x, crops at every 16 pixels of nine, Garden's tiles for validation, Storm's
    and YellowFlower's for test."""
    files = photo_files("photos64-mate")
    held = {*TEST_PHOTOS, "Garden.jpg"}
    if not held <= {f.name for f in files}:
        raise DataFormatError(f"{directory()} must hold {', '.join(sorted(held))} and other photos")
    parts = {
        split: [
            crops(reduced(f, 2), PATCH64, 16 if split == "train" else PATCH64)
            for f in files
            if (f.name in TEST_PHOTOS, f.name == "Garden.jpg") == where
        ]
        for split, where in (("train", (False, False)), ("val", (False, True)), ("test", (True, False)))
    }
    train, val, test = ((np.concatenate(parts[s]), None) for s in ("train", "val", "test"))
    return Source(train=train, val=val, test=test, source_levels=256)


def photo_name(path: Path) -> str:
    """A photograph's name: the file's stem (MATE), or the wallpaper's folder (KDE: NAME/contents/images/WxH)."""
    return path.parents[2].name if path.parent.name == "images" else path.stem


def load_photos() -> Source:
    files = photo_files("photos32")
    train = [patches(f) for f in files if f.name not in TEST_PHOTOS]
    test = [patches(f) for f in files if f.name in TEST_PHOTOS]
    if not train or not test:
        raise DataFormatError(f"{directory()} must hold {' and '.join(TEST_PHOTOS)} and other photos")
    return Source(train=(np.concatenate(train), None), test=(np.concatenate(test), None), source_levels=256)
