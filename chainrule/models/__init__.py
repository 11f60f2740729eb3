"""Model families behind one interface. A family is one file here, registered with `@register`.

available() → registry names; create(name, shape=..., levels=..., **hparams); load(dir).
"""

from typing import Any

from chainrule.models import (  # noqa: F401  (registers the families)
    char_rnn,
    gated_pixelcnn,
    lmconv,
    made,
    pixelcnn,
    pixelcnnpp,
    pixelrnn,
    pixelsnail,
    transformer,
    vpn,
    vqvae,
    wavenet,
)
from chainrule.models.base import MODELS, AutoregressiveModel, colour_channels, colour_width, create, load


def available() -> list[str]:
    """Registry names of every model family."""
    return MODELS.names()


def presets(name: str, shape: tuple[int, ...] | None = None) -> dict[str, dict]:
    """Named hyper-parameter presets of a family, e.g. {"cpu": {...}, "paper": {...}}. Given the data `shape`
    (C, H, W) of colour images, widths that must split into C channel groups are rounded up to a multiple of C
    (e.g. 32 → 33 channels for RGB)."""
    entry = MODELS.get(name)
    colours = colour_channels(entry, shape)
    return {
        preset: {k: colour_width(v, colours) if k in entry.colour_fields else v for k, v in values.items()}
        for preset, values in entry.presets.items()
    }


# a preset's entries that are not model hyper-parameters; "many_levels" replaces some of them for data of more than
# MANY_LEVELS levels (a preset sized for binary data whose output layer would grow K-fold)
PRESET_SECTIONS = ("train", "data", "many_levels")
MANY_LEVELS = 16


def preset_hparams(
    name: str, preset: str, shape: tuple[int, ...] | None = None, levels: int | None = None
) -> dict[str, Any]:
    """The model hyper-parameters of one preset (without its "train" settings and "data" options), with its
    "many_levels" entries applied when `levels` > MANY_LEVELS."""
    table = presets(name, shape)[preset]
    hparams = {k: v for k, v in table.items() if k not in PRESET_SECTIONS}
    if levels is not None and levels > MANY_LEVELS:
        hparams.update(table.get("many_levels", {}))
    return hparams


__all__ = ["AutoregressiveModel", "available", "create", "load", "preset_hparams", "presets", "MODELS"]
