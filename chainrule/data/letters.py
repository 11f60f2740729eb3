"""letters: a notMNIST-like set rendered from the installed fonts, the validation out-of-distribution set on which a
likelihood-ratio detector's settings are chosen (Ren et al. 2019 used notMNIST, which no package registry ships).

Each example is one of the letters A-J (the class, 0-9) drawn white on black in one font at a random size (glyph
height 50-95 % of the frame), position (anywhere the whole glyph fits) and stroke (0-3 pixels at 4x, i.e. up to
0.75 of a final pixel thicker), rendered at 112x112 and reduced 4x by area averaging to 28x28 grey, 256 levels.
The fonts are the TrueType / OpenType files under /usr/share/fonts (Debian's `fonts-dejavu-core` and
`fonts-liberation`, and any others installed; $CHAINRULE_FONTS names another folder) that draw every one of the
ten letters distinctly; symbol and math fonts fail that check and are left out. Splits are by font, never by
example: every fifth font (sorted by file name) is a test font, the next one a validation font, so test and
validation glyph shapes are unseen in training. VARIANTS examples per font and letter, from a generator seeded
by the font's file name, so the same fonts always give the same set.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chainrule.data.source import Source
from chainrule.errors import DatasetNotFoundError

FONT_DIR = Path("/usr/share/fonts")
INSTALL = "sudo apt-get install -y fonts-dejavu-core fonts-liberation"
LETTERS = "ABCDEFGHIJ"
SIZE, SCALE = 28, 4  # final side, and the oversampling of the drawing
VARIANTS = 40  # examples per font and letter
HEIGHTS = (0.50, 0.95)  # the glyph's height as a share of the frame
MAX_STROKE = 3  # at the drawing's scale


def directory() -> Path:
    """Where the fonts are looked for: $CHAINRULE_FONTS, else /usr/share/fonts."""
    return Path(os.environ.get("CHAINRULE_FONTS", FONT_DIR))


def font_files() -> list[Path]:
    """The usable fonts: every .ttf / .otf below `directory()` that draws A-J as ten distinct glyphs, sorted by name."""
    folder = directory()
    files = sorted((p for p in folder.rglob("*") if p.suffix.lower() in (".ttf", ".otf")), key=lambda p: p.name)
    return [f for f in files if draws_letters(f)]


def draws_letters(path: Path) -> bool:
    try:
        font = ImageFont.truetype(str(path), 48)
    except OSError:
        return False
    masks = []
    for letter in LETTERS:
        mask = font.getmask(letter)
        if mask.getbbox() is None:
            return False
        masks.append((mask.size, bytes(mask)))
    return len(set(masks)) == len(LETTERS)  # a font without the glyphs draws one box for all


def render(path: Path, letter: str, height: float, stroke: int, where: tuple[float, float]) -> np.ndarray:
    """One example: `letter` in the font at `path`, its height `height` of the frame, `stroke` pixels thicker at the
    drawing's scale, its box placed at fraction `where` (x, y) of the free room: uint8 (SIZE, SIZE)."""
    side = SIZE * SCALE
    probe = ImageFont.truetype(str(path), 100)
    left, top, right, bottom = probe.getbbox(letter, stroke_width=stroke)
    size = max(4, round(100 * height * side / max(bottom - top, 1)))
    font = ImageFont.truetype(str(path), size)
    left, top, right, bottom = font.getbbox(letter, stroke_width=stroke)
    width, tall = right - left, bottom - top
    if width > side or tall > side:  # a wide glyph: shrink until the whole box fits
        size = max(4, int(size * min(side / width, side / tall)))
        font = ImageFont.truetype(str(path), size)
        left, top, right, bottom = font.getbbox(letter, stroke_width=stroke)
        width, tall = right - left, bottom - top
    x = (side - width) * where[0] - left
    y = (side - tall) * where[1] - top
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((x, y), letter, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    return np.asarray(canvas.reduce(SCALE))


def font_examples(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """VARIANTS examples of each letter in one font: uint8 (10 · VARIANTS, 1, SIZE, SIZE) and their labels."""
    seed = int.from_bytes(hashlib.sha256(path.name.encode()).digest()[:8], "little")
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, letter in enumerate(LETTERS):
        for _ in range(VARIANTS):
            height = rng.uniform(*HEIGHTS)
            stroke = int(rng.integers(0, MAX_STROKE + 1))
            where = (float(rng.uniform()), float(rng.uniform()))
            images.append(render(path, letter, height, stroke, where))
            labels.append(label)
    return np.stack(images)[:, None], np.array(labels, dtype=np.int64)


def split_of(index: int) -> str:
    """The split of the index-th font (sorted by name): every fifth is a test font, the next a validation one."""
    return {0: "test", 1: "val"}.get(index % 5, "train")


@lru_cache(maxsize=2)
def _load(folder: str) -> Source:
    files = font_files()
    if len(files) < 3:
        raise DatasetNotFoundError(
            f"letters needs at least 3 fonts that draw A-J (found {len(files)} in {folder}): run `{INSTALL}`"
        )
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "val": [], "test": []}
    for index, path in enumerate(files):
        parts[split_of(index)].append(font_examples(path))

    def joined(split: str) -> tuple[np.ndarray, np.ndarray]:
        return np.concatenate([x for x, _ in parts[split]]), np.concatenate([y for _, y in parts[split]])

    return Source(
        train=joined("train"), val=joined("val"), test=joined("test"), source_levels=256, num_classes=len(LETTERS)
    )


def load_letters() -> Source:
    return _load(str(directory()))
