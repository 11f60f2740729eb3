"""emoji64 / emoji32: the colour emoji of Debian's `fonts-noto-color-emoji`, one RGB example per glyph, for the
latent models (diverse, recognisable pictures: faces, animals, food, objects, flags).

Which emoji, and their classes, come from Unicode's emoji-test.txt (Debian's `unicode-data`): every
fully-qualified emoji outside the "Component" group (skin-tone and hair swatches), labelled by its group (Smileys &
Emotion, People & Body, Animals & Nature, Food & Drink, Travel & Places, Activities, Objects, Symbols, Flags: 9
classes). Each is drawn from the font's colour bitmap strike (Pillow, at the strike's 109-point size), its alpha
composited over white (never dropped), centred on a white square and reduced to 64x64 (or 32x32) by Lanczos
resampling. An emoji the font cannot draw as one glyph (a newer sequence it lacks, which would come out as
several glyphs side by side) is left out, as is a drawing met before (the box the font draws for a glyph it
lacks, or two sequences it draws alike), so the count depends on the font's version; `chainrule datasets` says it.

The split is by glyph, and skin-tone variants count as one glyph: an emoji's variants all fall in the split of
its base sequence (the tones removed), which a seeded hash of the base decides (TEST_SHARE test, VAL_SHARE
validation), so no test face is a training face in another colour.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from chainrule.data.source import Source
from chainrule.errors import DataFormatError, DatasetNotFoundError

FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")
TABLE = Path("/usr/share/unicode/emoji/emoji-test.txt")
INSTALL = "sudo apt-get install -y fonts-noto-color-emoji unicode-data"
STRIKE = 109  # the point size of the font's bitmap strike
GLYPH = 136  # the strike's glyph width in pixels: a box much wider holds several glyphs
SKIPPED_GROUPS = ("Component",)
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
TEST_SHARE, VAL_SHARE = 0.10, 0.05
SPLIT_SALT = b"chainrule-emoji-split-0"


def font_path() -> Path:
    return Path(os.environ.get("CHAINRULE_EMOJI_FONT", FONT))


def table_path() -> Path:
    return Path(os.environ.get("CHAINRULE_EMOJI_TABLE", TABLE))


def read_table(path: Path) -> tuple[list[str], list[tuple[str, int]]]:
    """The groups (class names, in the table's order, Component left out) and every fully-qualified emoji with
    its group index, from an emoji-test.txt."""
    groups: list[str] = []
    entries: list[tuple[str, int]] = []
    group = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            name = line.split(":", 1)[1].strip()
            group = None if name in SKIPPED_GROUPS else name
            if group is not None:
                groups.append(group)
            continue
        if not line or line.startswith("#") or group is None:
            continue
        codes, _, rest = line.partition(";")
        if rest.split("#", 1)[0].strip() != "fully-qualified":
            continue
        entries.append(("".join(chr(int(c, 16)) for c in codes.split()), len(groups) - 1))
    if not entries:
        raise DataFormatError(f"{path} lists no fully-qualified emoji: is it Unicode's emoji-test.txt?")
    return groups, entries


def glyph(font: ImageFont.FreeTypeFont, emoji: str) -> Image.Image | None:
    """The font's drawing of one emoji, RGBA at the strike's size, or None when it draws more than one glyph (or
    nothing)."""
    left, top, right, bottom = font.getbbox(emoji, mode="RGBA")
    width, height = right - left, bottom - top
    if width <= 0 or height <= 0 or width > 1.5 * GLYPH:  # several glyphs side by side
        return None
    drawn = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    ImageDraw.Draw(drawn).text((-left, -top), emoji, font=font, embedded_color=True)
    return drawn if drawn.getbbox() is not None else None


def on_white(drawn: Image.Image, size: int) -> np.ndarray:
    """A glyph composited over white, centred on a square, resized: uint8 (3, size, size)."""
    width, height = drawn.size
    side = max(width, height)
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    square.alpha_composite(drawn, ((side - width) // 2, (side - height) // 2))
    image = square.convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image).transpose(2, 0, 1).copy()


def render(font: ImageFont.FreeTypeFont, emoji: str, size: int) -> np.ndarray | None:
    """One emoji as uint8 (3, size, size) RGB on white, or None when the font draws it as more than one glyph
    (or not at all)."""
    drawn = glyph(font, emoji)
    return None if drawn is None else on_white(drawn, size)


def base(emoji: str) -> str:
    """The emoji with its skin tones removed: what decides its split."""
    return "".join(c for c in emoji if c not in SKIN_TONES)


def split_of(emoji: str) -> str:
    digest = hashlib.sha256(SPLIT_SALT + base(emoji).encode()).digest()
    u = int.from_bytes(digest[:8], "little") / 2**64
    return "test" if u < TEST_SHARE else "val" if u < TEST_SHARE + VAL_SHARE else "train"


@lru_cache(maxsize=4)
def _load(size: int, font_file: str, table_file: str) -> Source:
    font_file_path, table_file_path = Path(font_file), Path(table_file)
    if not font_file_path.is_file() or not table_file_path.is_file():
        raise DatasetNotFoundError(
            f"emoji{size} needs the Noto colour emoji font and Unicode's emoji table "
            f"({font_file_path if not font_file_path.is_file() else table_file_path} is missing): run `{INSTALL}`"
        )
    try:
        font = ImageFont.truetype(font_file, STRIKE)
    except OSError as err:
        raise DataFormatError(f"{font_file} is not a readable colour emoji font ({err})") from None
    groups, entries = read_table(table_file_path)
    parts: dict[str, tuple[list[np.ndarray], list[int]]] = {s: ([], []) for s in ("train", "val", "test")}
    # a drawing met before (the font's box for a glyph it lacks, or one picture for two sequences) is left out,
    # as is the box the font draws for a character it has no glyph for
    missing = glyph(font, "\ue000")
    seen = {hashlib.sha256(missing.tobytes()).digest()} if missing is not None else set()
    for emoji, group in entries:
        drawn = glyph(font, emoji)
        if drawn is None:
            continue
        key = hashlib.sha256(drawn.tobytes()).digest()
        if key in seen:
            continue
        seen.add(key)
        images, labels = parts[split_of(emoji)]
        images.append(on_white(drawn, size))
        labels.append(group)

    def joined(split: str) -> tuple[np.ndarray, np.ndarray]:
        images, labels = parts[split]
        return np.stack(images), np.array(labels, dtype=np.int64)

    return Source(
        train=joined("train"), val=joined("val"), test=joined("test"), source_levels=256, num_classes=len(groups)
    )


def class_names() -> list[str]:
    return read_table(table_path())[0]


def load_emoji64() -> Source:
    return _load(64, str(font_path()), str(table_path()))


def load_emoji32() -> Source:
    return _load(32, str(font_path()), str(table_path()))
