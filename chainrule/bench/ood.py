"""Out-of-distribution benchmark: how well each scoring method tells a model's test data from other data.

Images: a Fashion-MNIST model (256 levels) on its test split against MNIST (mnist-5k's test split) and sets made
from what is installed: uniform noise, constant images (one random grey level each), inverted Fashion-MNIST
(255 − x) and Fashion-MNIST flipped upside down; a photos32 model against other images (`photo_sets`). Audio: a
speech model on one-second segments of its test split against white noise and synthetic tones (sums of sines
with random pitches and envelopes). For each pair and method: AUROC, AUPRC and FPR at 95 % TPR,
out-of-distribution being the positive class. Typicality scores consecutive batches of M inputs (its AUROC is
over batches).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from chainrule.data import load_splits
from chainrule.data.mulaw import encode
from chainrule.models import load
from chainrule.scoring import bits_per_dim, scores_and_bits, separation, validation_bits

DEFAULT_IMAGE_MODEL = "zoo:gated-pixelcnn-fashion-mnist"
DEFAULT_AUDIO_MODEL = "zoo:wavenet-speech"


def image_sets(limit: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """In-distribution first ("fashion-mnist"), then the out-of-distribution sets, each (≤ limit, 1, 28, 28)."""
    g = torch.Generator().manual_seed(seed)
    fashion = load_splits("fashion-mnist")["test"].x[:limit]
    n = len(fashion)
    return {
        "fashion-mnist": fashion,
        "mnist": load_splits("mnist-5k")["test"].x[:limit],
        "noise": torch.randint(0, 256, (n, 1, 28, 28), generator=g),
        "constant": torch.randint(0, 256, (n, 1, 1, 1), generator=g).expand(n, 1, 28, 28).contiguous(),
        "inverted": 255 - fashion,
        "upside-down": fashion.flip(2),
    }


def photo_sets(limit: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """photos32's test patches first, then other images as (3, 32, 32): Fashion-MNIST and MNIST digits padded to
    32x32 with their grey in all three channels, uniform noise, and the photos upside down."""
    g = torch.Generator().manual_seed(seed)
    photos = load_splits("photos32")["test"].x[:limit]
    n = len(photos)

    def as_rgb(grey: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.pad(grey, (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()

    return {
        "photos32": photos,
        "fashion-mnist": as_rgb(load_splits("fashion-mnist")["test"].x[:n]),
        "mnist": as_rgb(load_splits("mnist-5k")["test"].x[:n]),
        "noise": torch.randint(0, 256, (n, 3, 32, 32), generator=g),
        "upside-down": photos.flip(2),
    }


def audio_sets(limit: int, seconds: float = 1.0, seed: int = 0) -> dict[str, list[torch.Tensor]]:
    """Speech segments of the test split, then white noise and synthetic tones, as μ-law code streams."""
    test = load_splits("speech", length=int(8000 * seconds))["test"]
    speech = list(test.x[:limit])
    n, length, rate = len(speech), test.shape[0], test.kind.rate
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(length) / rate
    noise = [encode((0.1 * torch.randn(length, generator=g)).clamp(-1, 0.999), "mulaw") for _ in range(n)]
    tones = []
    for _ in range(n):
        pitches = 110 * 2 ** (torch.rand(3, generator=g) * 3)  # three partials in 110-880 Hz
        envelope = torch.sin(math.pi * t / t[-1]) ** 2
        wave = sum(torch.sin(2 * math.pi * f * t) for f in pitches) / 3 * envelope * 0.5
        tones.append(encode(wave.clamp(-1, 0.999), "mulaw"))
    return {"speech": speech, "noise": noise, "tones": tones}


def evaluate(
    run: str, sets: dict[str, Any], background: str | None = None, batch: int = 5, device: str = "cpu"
) -> list[dict[str, Any]]:
    """Rows (pair, method, auroc, auprc, fpr95, codec) for every out-of-distribution set and method; the first set of
    `sets` is the in-distribution one. Each set passes over the model once (every method starts from its bits)."""
    model = load(run, device)
    back = load(background, device) if background is not None else None
    reference = validation_bits(run)
    methods = ["likelihood", "complexity"] + (["typicality"] if reference is not None else [])
    methods += ["ratio"] if back is not None else []

    def scores(x) -> dict[str, tuple[torch.Tensor, str | None]]:
        bpd, out = bits_per_dim(model, x), {}
        for method in methods:
            values, _, codec = scores_and_bits(model, x, method, back, batch=batch, reference=reference, bpd=bpd)
            out[method] = values, codec
        return out

    names = list(sets)
    inside = scores(sets[names[0]])
    rows = []
    for name in names[1:]:
        outside = scores(sets[name])
        for method in methods:
            (inner, codec), (outer, _) = inside[method], outside[method]
            rows.append(
                {
                    "in": names[0],
                    "out": name,
                    "method": method,
                    **separation(inner.numpy(), outer.numpy()),
                    "codec": codec,
                    "inside_mean": float(inner.mean()),
                    "outside_mean": float(outer.mean()),
                }
            )
    return rows
