"""Completion that sees every known value: frequencies against the exact conditional by enumeration, the
resampling path, cached == naive, and N = 1 as today's sampler."""

from __future__ import annotations

import pytest
import torch

import chainrule as cr
from chainrule.errors import InputError
from tests.conformance.test_contract import NAMES, grid, tiny
from tests.helpers import chi_square_pvalue, enumerate_space

# unknown, known, unknown, known along the model's order: known values follow unknown ones
PATTERN = {1: 1, 3: 0}


def pattern(model, examples: int) -> torch.Tensor:
    flat = torch.full((model.dims,), -1)
    for step, value in PATTERN.items():
        flat[model.order[step]] = value
    return flat.reshape(1, *model.shape).expand(examples, *model.shape).clone()


def exact_conditional(model, known: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every x that agrees with the known values, and p(x_unknown | x_known) over them."""
    xs = enumerate_space(model.shape, model.levels)
    flat = known[0].reshape(-1)
    agree = ((xs.reshape(len(xs), -1) == flat) | (flat < 0)).all(1)
    with torch.no_grad():
        return xs[agree], torch.softmax(model.log_prob(xs[agree]).double(), 0)


def category(candidates: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
    flat = candidates.reshape(len(candidates), -1)
    return torch.tensor([int((flat == d.reshape(-1)).all(1).nonzero()) for d in draws])


@pytest.mark.parametrize(
    "name,cache,resample", [("pixelcnn", True, 1.0), ("made", True, 0.5), ("gated-pixelcnn", False, 1.0)]
)
def test_completion_frequencies_match_the_exact_conditional(name, cache, resample):
    model = tiny(name, grid(name, 2, 2), 2)
    known = pattern(model, 300)
    candidates, exact = exact_conditional(model, known)
    result = cr.sampling.complete(
        model,
        known,
        500,
        generator=torch.Generator().manual_seed(0),
        cache=cache,
        max_rows=200_000,
        resample_below=resample,
    )
    assert (result.resampled > 0) == (resample == 1.0)  # the sequential Monte Carlo path is exercised
    assert chi_square_pvalue(category(candidates, result.x), exact) > 1e-3
    many = pattern(model, 2000)
    plain = model.sample(2000, known=many, particles=1, generator=torch.Generator().manual_seed(0))
    assert chi_square_pvalue(category(candidates, plain), exact) < 1e-3  # the old sampler misses the later knowns


@pytest.mark.parametrize("name", NAMES)
def test_cached_and_naive_completion_agree_with_resampling(name):
    model = tiny(name, grid(name, 2, 3), 3)
    known = torch.randint(0, 3, (2, *model.shape), generator=torch.Generator().manual_seed(1))
    known.view(2, -1)[:, model.order[::2]] = -1
    runs = [
        cr.sampling.complete(
            model, known, 7, generator=torch.Generator().manual_seed(2), cache=cache, resample_below=1.0
        )
        for cache in (True, False)
    ]
    assert torch.equal(runs[0].x, runs[1].x) and torch.allclose(runs[0].ess, runs[1].ess, rtol=1e-3)
    assert ((runs[0].x == known) | (known < 0)).all()


@pytest.mark.parametrize("name", NAMES)
def test_one_particle_is_todays_sampler_bit_for_bit(name):
    model = tiny(name, grid(name, 2, 3), 3)
    known = pattern(model, 4)
    one = model.sample(4, known=known, particles=1, generator=torch.Generator().manual_seed(5))
    result = cr.sampling.complete(model, known, 1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(one, result.x) and torch.equal(result.ess, torch.ones(4))


def test_the_default_uses_particles_only_where_known_values_follow_unknown_ones():
    model = tiny("pixelcnn", (1, 2, 2), 2)
    bottom = torch.tensor([[[[1, 0], [-1, -1]]]])
    assert not cr.sampling.needs_particles(model, bottom)
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(
        model.sample(1, known=bottom, generator=g1), model.sample(1, known=bottom, generator=g2, particles=1)
    )
    assert cr.sampling.needs_particles(model, pattern(model, 1))


def test_effective_sample_size_and_errors():
    assert float(cr.sampling.effective_sample_size(torch.zeros(10))) == pytest.approx(10)
    assert float(cr.sampling.effective_sample_size(torch.tensor([0.0, -1e9, -1e9]))) == pytest.approx(1)
    model = tiny("pixelcnn", (1, 2, 2), 2)
    with pytest.raises(InputError, match="particles"):
        cr.sampling.complete(model, pattern(model, 1), 0)
    with pytest.raises(InputError, match="known"):
        model.sample(1, particles=4)


def test_a_low_effective_sample_size_is_warned_about(caplog):
    model = tiny("pixelcnn", (1, 4, 4), 16)
    known = torch.randint(0, 16, (1, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    known[0, 0, :2] = -1  # the whole image after two unknown rows weighs in
    with caplog.at_level("WARNING"):
        result = cr.sampling.complete(model, known, 200, generator=torch.Generator().manual_seed(0), resample_below=0)
    assert float(result.ess.min()) < 10 and "effective sample size" in caplog.text
