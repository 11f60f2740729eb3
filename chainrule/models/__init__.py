"""Model families behind one interface. A family is one file here, registered with `@register`.

available() → registry names; create(name, shape=..., levels=..., **hparams); load(dir).
"""

from chainrule.models import (  # noqa: F401  (registers the families)
    char_rnn,
    gated_pixelcnn,
    made,
    pixelcnn,
    pixelcnnpp,
    pixelrnn,
    pixelsnail,
    transformer,
    wavenet,
)
from chainrule.models.base import MODELS, AutoregressiveModel, create, load


def available() -> list[str]:
    """Registry names of every model family."""
    return MODELS.names()


def presets(name: str) -> dict[str, dict]:
    """Named hyper-parameter presets of a family, e.g. {"cpu": {...}, "paper": {...}}."""
    return dict(MODELS.get(name).presets)


__all__ = ["AutoregressiveModel", "available", "create", "load", "presets", "MODELS"]
