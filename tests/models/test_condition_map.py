"""The typed condition with a spatial map: the map is seen at every position, the data only causally; the
conformance checks hold with a map given (normalisation, causality, cached == naive, completion), and a class and a
map go together."""

from __future__ import annotations

import pytest
import torch

import chainrule as cr
from chainrule.data import Condition
from chainrule.errors import InputError
from chainrule.models import MODELS
from chainrule.sampling import sample_cached, sample_naive
from tests.helpers import chi_square_pvalue, enumerate_space

FAMILIES = ["gated-pixelcnn", "pixelsnail"]
# a map of codes with a class (the bottom prior of a VQ-VAE-2), and a map of float values
MAPS = {"codes": dict(map_levels=5, map_channels=4, num_classes=3), "values": dict(map_channels=4)}


def model_with_map(name: str, kind: str, shape=(1, 2, 4), levels=3, **extra):
    """A model whose map has half the data's side (one channel of codes, or two of values)."""
    torch.manual_seed(0)
    map_shape = (1 if kind == "codes" else 2, shape[1] // 2, shape[2] // 2)
    hparams = {**MODELS.get(name).tiny, **MAPS[kind], "map_shape": map_shape, **extra}
    model = cr.models.create(name, shape=shape, levels=levels, **hparams)
    with torch.no_grad():  # weights far from their zero start, so that the map matters
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.7)
    return model.eval()


def a_map(model, n: int, seed: int = 1) -> Condition:
    g = torch.Generator().manual_seed(seed)
    if model.map_levels:
        classes = torch.randint(0, 3, (n,), generator=g)
        return Condition(classes=classes, map=torch.randint(0, 5, (n, *model.map_shape), generator=g))
    return Condition(map=torch.randn(n, *model.map_shape, generator=g))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("kind", MAPS)
def test_normalisation_with_a_map(name, kind):
    model = model_with_map(name, kind, shape=(1, 2, 2), levels=2)
    xs = enumerate_space((1, 2, 2), 2)
    cond = a_map(model, 1)[torch.zeros(len(xs), dtype=torch.long)]  # one map for every x
    with torch.no_grad():
        assert model.log_prob(xs, cond).double().exp().sum().item() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("kind", MAPS)
def test_the_data_stays_causal_and_the_whole_map_is_seen(name, kind):
    model = model_with_map(name, kind)
    cond = a_map(model, 4)
    x = torch.randint(0, 3, (4, 1, 2, 4), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = model.log_prob(x, cond, reduction="none").flatten(1)
        for j in range(8):
            y = x.clone().flatten(1)
            y[:, j] = (y[:, j] + 1) % 3
            moved = model.log_prob(y.view_as(x), cond, reduction="none").flatten(1)
            assert torch.equal(moved[:, :j], base[:, :j]), f"perturbing {j} moved an earlier conditional"
            if j == 0:  # and something later does depend on the data (the check can fail both ways)
                assert not torch.allclose(moved[:, 1:], base[:, 1:])
        # the map's last entry moves the first pixel's conditional: the map is not causal, it is given
        other = cond.map.clone()
        other[..., -1] = (other[..., -1] + 1) % 5 if kind == "codes" else other[..., -1] + 1.0  # the last map entry
        changed = model.log_prob(x, Condition(classes=cond.classes, map=other), reduction="none").flatten(1)
        assert not torch.allclose(changed[:, 0], base[:, 0])


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("kind", MAPS)
def test_cached_generation_equals_naive_with_a_map(name, kind):
    model = model_with_map(name, kind)
    cond = a_map(model, 3)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(
        sample_naive(model, 3, cond=cond, generator=g1), sample_cached(model, 3, cond=cond, generator=g2)
    )


@pytest.mark.parametrize("name", FAMILIES)
def test_sampling_with_a_map_matches_the_model(name):
    model = model_with_map(name, "codes", shape=(1, 2, 2), levels=2)
    cond = a_map(model, 1)
    xs = enumerate_space((1, 2, 2), 2)
    with torch.no_grad():
        probs = model.log_prob(xs, cond[torch.zeros(len(xs), dtype=torch.long)]).double().exp()
    draws = model.sample(
        4000, cond=cond[torch.zeros(4000, dtype=torch.long)], generator=torch.Generator().manual_seed(2)
    )
    codes = (draws.flatten(1) * (2 ** torch.arange(3, -1, -1))).sum(1)
    assert chi_square_pvalue(codes, probs) > 1e-3


@pytest.mark.parametrize("name", FAMILIES)
def test_completion_with_a_map_keeps_known_values(name):
    model = model_with_map(name, "codes")
    cond = a_map(model, 3)
    known = torch.full((3, 1, 2, 4), -1)
    known[:, 0, 1, 2] = 2  # a known value after unknown ones: sequential Monte Carlo
    done = model.sample(3, cond=cond, known=known, generator=torch.Generator().manual_seed(3), particles=4)
    assert torch.equal(done[:, 0, 1, 2], torch.full((3,), 2))


@pytest.mark.parametrize("name", FAMILIES)
def test_a_missing_or_wrong_map_is_refused(name):
    model = model_with_map(name, "codes")
    x = torch.zeros(2, 1, 2, 4, dtype=torch.long)
    with pytest.raises(InputError, match="reads a conditioning map"):
        model.log_prob(x)
    with pytest.raises(InputError, match="shape"):
        model.log_prob(x, Condition(map=torch.zeros(2, 1, 2, 2, dtype=torch.long)))
    with pytest.raises(InputError, match="codes outside"):
        model.log_prob(x, Condition(map=torch.full((2, 1, 1, 2), 5)))
    with pytest.raises(InputError, match="integer"):
        model.log_prob(x, Condition(map=torch.zeros(2, 1, 1, 2)))
    with pytest.raises(cr.errors.ConfigError, match="whole multiple"):
        cr.models.create(name, shape=(1, 3, 4), levels=3, map_shape=(1, 2, 2), **MODELS.get(name).tiny)


@pytest.mark.parametrize("name", FAMILIES)
def test_save_and_load_with_a_map(name, tmp_path):
    model = model_with_map(name, "values")
    model.save(tmp_path / "m")
    again = cr.load(tmp_path / "m")
    cond, x = a_map(model, 2), torch.randint(0, 3, (2, 1, 2, 4))
    with torch.no_grad():
        assert torch.equal(model.log_prob(x, cond), again.log_prob(x, cond))


@pytest.mark.parametrize("kind", MAPS)
@torch.no_grad()
def test_filing_known_rows_with_a_map_gives_the_conditionals_of_stepping(kind):
    model = model_with_map("gated-pixelcnn", kind, shape=(1, 6, 4))
    cond = a_map(model, 2)
    x = torch.randint(0, 3, (2, 1, 6, 4), generator=torch.Generator().manual_seed(2))
    prefix = x.flatten(1)[:, :13]
    stepped = model.init_cache(2, cond)
    expected = model.cache_step(stepped, None)
    for value in prefix.unbind(1):
        expected = model.cache_step(stepped, value)
    got = model.cache_prefix(model.init_cache(2, cond), prefix)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got, model.next_log_probs(x, cond, 13), atol=1e-4)
