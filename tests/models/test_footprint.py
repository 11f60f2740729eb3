"""Each family's closed-form footprint against real builds: the weights count exactly, the build work as a bound."""

from __future__ import annotations

import itertools

import pytest

import chainrule as cr
from chainrule.models import MODELS
from chainrule.models.footprint import MODULE

SHAPES = {
    "image": [(1, 5, 6), (3, 4, 4)],
    "sequence": [(8,)],
    "any": [(1, 5, 6), (3, 4, 4), (7,)],
    "latent": [(1, 8, 8), (3, 16, 16)],
    "video": [(2, 1, 5, 6), (3, 3, 4, 4)],
}
VARIANTS = {
    "made": [{"direct": True}, {"inputs": "scalar"}, {"inputs": "one-hot", "num_masks": 3}],
    "pixelcnn": [{"num_classes": 3}],
    "gated-pixelcnn": [{"num_classes": 3}, {"cond_dim": 4}, {"embed": 5}],
    "pixelcnn++": [{"num_classes": 3}, {"cond_dim": 4}],
    "pixelsnail": [{"num_classes": 3}, {"cond_dim": 4}, {"embed": 5, "num_classes": 2}],
    "vqvae": [{"hierarchy": 2}, {"residual_layers": 0, "codes": 7}],
    "wavenet": [{"num_classes": 3}, {"local_channels": 3, "hop": 2}, {"head": "logistic"}],
    "char-rnn": [{"cell": "gru"}],
    "transformer": [{"positions": "rotary"}],
    "vpn": [{"block": "multiplicative"}, {"dilations": ()}],
}


def builds(name: str, presets: tuple[str, ...]):
    entry = MODELS.get(name)
    for shape, levels, extra in itertools.product(SHAPES[entry.kind], (2, 5, 256), [{}, *VARIANTS.get(name, [])]):
        for hparams in [entry.tiny] + [cr.models.preset_hparams(name, p, shape) for p in presets]:
            if extra.get("embed") and shape[0] != 1:
                continue  # a code embedding reads one channel of codes
            if name == "made" and levels == 256 and len(shape) == 3 and max(hparams.get("hidden", (0,))) > 600:
                continue  # a one-hot MADE over 256 levels at paper width: slow to build, nothing new to check
            yield cr.models.create(name, shape=shape, levels=levels, **{**hparams, **extra})


def check(name: str, presets: tuple[str, ...]) -> None:
    for model in builds(name, presets):
        footprint = type(model).footprint(model.config)
        weights = sum(t.numel() for t in model.state_dict().values())
        tensors = [*model.parameters(), *model.buffers()]
        built = sum(t.numel() * t.element_size() for t in tensors) + MODULE * len(list(model.modules()))
        assert footprint.weights == weights, (name, model.config)
        assert built <= footprint.work <= 4 * built + (1 << 20), (name, model.config)


@pytest.mark.parametrize("name", cr.models.available())
def test_the_closed_form_footprint_matches_tiny_and_cpu_builds(name):
    check(name, ("cpu",))


@pytest.mark.slow
@pytest.mark.parametrize("name", cr.models.available())
def test_the_closed_form_footprint_matches_paper_builds(name):
    check(name, ("paper",))
