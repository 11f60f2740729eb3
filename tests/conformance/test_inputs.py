"""What every family accepts: its defaults on grey and colour images, any integer dtype wherever it takes data."""

from __future__ import annotations

import pytest
import torch

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.models import MODELS
from tests.conformance.test_contract import NAMES, grid, tiny

IMAGE_FAMILIES = [n for n in NAMES if "@" not in n and MODELS.get(n).kind in ("image", "any")]
INTEGER_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64]


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
@pytest.mark.parametrize("colours", [1, 3])
def test_every_image_family_builds_with_its_defaults(name, colours):
    model = cr.models.create(name, shape=(colours, 4, 4), levels=256)
    x = torch.randint(0, 256, (2, colours, 4, 4))
    assert torch.isfinite(model.log_prob(x)).all()


@pytest.mark.parametrize("name", [n for n in NAMES if "@" not in n and MODELS.get(n).colour_fields])
def test_an_explicit_width_that_does_not_split_into_colours_is_refused(name):
    field = MODELS.get(name).colour_fields[0]
    with pytest.raises(ConfigError, match=field):
        cr.models.create(name, shape=(3, 4, 4), levels=256, **{field: 7})


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_log_prob_sample_and_compress_take_every_integer_dtype(name, dtype):
    levels = 100  # K > 2, and within int8's range
    shape = grid(name, 2, 3)
    model = tiny(name, shape, levels)
    x = torch.randint(0, levels, (3, *shape), generator=torch.Generator().manual_seed(0))
    expected = model.log_prob(x)
    assert torch.equal(model.log_prob(x.to(dtype)), expected)
    known = x.clone()
    known.view(3, -1)[:, model.order[-2:]] = -1 if dtype != torch.uint8 else 0
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(model.sample(3, known=known.to(dtype), generator=g1), model.sample(3, known=known, generator=g2))
    blob = cr.coding.compress(model, x.to(dtype))
    assert torch.equal(cr.coding.decompress(model, blob), x)


@pytest.mark.parametrize("length", [1, 2])
def test_a_transformer_context_below_three_is_refused(length):
    with pytest.raises(ConfigError, match="at least 3"):
        cr.models.create("transformer", shape=(length,), levels=5, **MODELS.get("transformer").tiny)


def test_the_python_loader_takes_zoo_names():
    names = list(cr.zoo.entries())
    assert names
    model = cr.load(f"zoo:{names[0]}")
    assert isinstance(model, cr.models.AutoregressiveModel)
    with pytest.raises(cr.errors.UnknownNameError, match="no such zoo model"):
        cr.load("zoo:no-such-model")
