"""DESIGN.md's checks, run over every registered exact-likelihood model with its tiny config, and over the priors of
VQ-VAE codes (NAME@codes: the family with a learned code embedding and a K-way softmax, on a (1, h, w) code grid)."""

from __future__ import annotations

import math

import pytest
import torch

import chainrule as cr
from chainrule.models import MODELS
from tests.helpers import chi_square_pvalue, enumerate_space

# (shape, levels) spaces small enough to enumerate
SPACES = [((1, 2, 2), 2), ((3,), 3), ((3, 1, 1), 3), ((2, 1, 2, 2), 2), ((2, 2, 1, 1), 3)]
CODE_PRIORS = ["gated-pixelcnn@codes", "pixelsnail@codes"]
NAMES = [n for n in cr.models.available() if MODELS.get(n).kind != "latent"] + CODE_PRIORS


def family(name: str) -> str:
    return name.split("@")[0]


def fits(name: str, shape: tuple[int, ...]) -> bool:
    if name in CODE_PRIORS:
        return len(shape) == 3 and shape[0] == 1
    kind = MODELS.get(name).kind
    return (
        kind == "any"
        or (kind == "image" and len(shape) == 3)
        or (kind == "sequence" and len(shape) == 1)
        or (kind == "video" and len(shape) == 4)
    )


def cases(shapes):
    """(name, shape, levels) for every model and every space it takes."""
    return [(n, s, k) for n in NAMES for s, k in shapes if fits(n, s)]


def grid(name: str, h: int, w: int) -> tuple[int, ...]:
    """A small shape with h·w dimensions the model takes: (1, h, w), (h·w,) for sequence models, h frames of
    1 x w for video models."""
    kind = MODELS.get(family(name)).kind
    return (h * w,) if kind == "sequence" else (h, 1, 1, w) if kind == "video" else (1, h, w)


def tiny(name: str, shape, levels, **extra):
    torch.manual_seed(0)
    codes = {"embed": 3} if name in CODE_PRIORS else {}
    hparams = {**MODELS.get(family(name)).tiny, **codes, **extra}
    model = cr.models.create(family(name), shape=shape, levels=levels, **hparams)
    assert model.data_kind.is_codes == (name in CODE_PRIORS)
    with torch.no_grad():  # larger weights so that the conditionals are far from uniform
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


@pytest.mark.parametrize("name,shape,levels", cases(SPACES))
def test_normalisation_by_enumeration(name, shape, levels):
    model = tiny(name, shape, levels)
    xs = enumerate_space(shape, levels)
    with torch.no_grad():
        total = model.log_prob(xs).double().exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-5)


CAUSAL_SPACES = [((1, 4, 4), 2), ((3, 3, 3), 4), ((7,), 5), ((3, 1, 3, 3), 2), ((2, 3, 2, 2), 4)]


@pytest.mark.parametrize("name,shape,levels", cases(CAUSAL_SPACES))
def test_causality_by_perturbation(name, shape, levels):
    model = tiny(name, shape, levels)
    g = torch.Generator().manual_seed(1)
    order = model.order
    x = torch.randint(0, levels, (4, *shape), generator=g)
    with torch.no_grad():
        base = model.log_prob(x, reduction="none").flatten(1)
        for j in torch.randint(0, model.dims, (6,), generator=g).tolist():
            y = x.clone().flatten(1)
            y[:, j] = (y[:, j] + 1) % levels
            moved = model.log_prob(y.reshape(x.shape), reduction="none").flatten(1)
            rank_j = int((order == j).nonzero())
            earlier = order[:rank_j]
            assert torch.equal(moved[:, earlier], base[:, earlier]), f"perturbing {j} moved an earlier conditional"
            if rank_j + 1 < model.dims:  # something later does depend on it (the test can fail both ways)
                later = order[rank_j + 1 :]
                assert not torch.allclose(moved[:, later], base[:, later])


def test_raster_order_is_rgb_within_pixel():
    model = tiny("made", (3, 2, 2), 2, order="natural")
    assert model.order.tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


@pytest.mark.parametrize("name", NAMES)
def test_sampling_matches_the_model(name):
    shape, levels = grid(name, 2, 2), 2
    model = tiny(name, shape, levels)
    xs = enumerate_space(shape, levels)
    with torch.no_grad():
        probs = model.log_prob(xs).double().exp()
    draws = model.sample(4000, generator=torch.Generator().manual_seed(2))
    codes = (draws.flatten(1) * (2 ** torch.arange(3, -1, -1))).sum(1)
    assert chi_square_pvalue(codes, probs) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_completion_keeps_known_entries_and_samples_the_conditional(name):
    shape, levels = grid(name, 2, 2), 2
    model = tiny(name, shape, levels)
    known = torch.tensor([1, 0, -1, -1]).reshape(shape).expand(4000, *shape).clone()
    done = model.sample(4000, known=known, generator=torch.Generator().manual_seed(3)).flatten(1)
    assert torch.equal(done[:, :2], known.flatten(1)[:, :2])
    xs = enumerate_space(shape, levels)
    flat = xs.flatten(1)
    match = (flat[:, 0] == 1) & (flat[:, 1] == 0)
    with torch.no_grad():
        joint = model.log_prob(xs[match]).double().exp()
    codes = done[:, 2] * 2 + done[:, 3]
    assert chi_square_pvalue(codes, joint / joint.sum()) > 1e-3


@pytest.mark.parametrize("name", NAMES)
def test_sampling_is_reproducible_with_a_generator(name):
    model = tiny(name, grid(name, 3, 3), 3)
    a = model.sample(5, generator=torch.Generator().manual_seed(4))
    b = model.sample(5, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and a.shape == (5, *grid(name, 3, 3)) and int(a.max()) < 3


@pytest.mark.parametrize("name", NAMES)
def test_cached_generation_equals_naive(name):
    model = tiny(name, grid(name, 3, 3), 2)
    from chainrule.sampling import sample_cached, sample_naive

    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(sample_naive(model, 4, generator=g1), sample_cached(model, 4, generator=g2))


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip_is_exact(name, tmp_path):
    model = tiny(name, grid(name, 3, 3), 4)
    model.save(tmp_path / "m")
    again = cr.load(tmp_path / "m")
    x = torch.randint(0, 4, (6, *grid(name, 3, 3)))
    with torch.no_grad():
        assert torch.equal(model.log_prob(x, reduction="none"), again.log_prob(x, reduction="none"))
    assert again.describe() == model.describe()


@pytest.mark.parametrize("name", NAMES)
def test_bad_input_is_rejected(name):
    shape = grid(name, 2, 2)
    model = tiny(name, shape, 3)
    with pytest.raises(cr.errors.InputError, match="shape"):
        model.log_prob(torch.zeros(2, *grid(name, 3, 3), dtype=torch.long))
    with pytest.raises(cr.errors.InputError, match="values"):
        model.log_prob(torch.full((2, *shape), 3))
    with pytest.raises(cr.errors.InputError, match="integer"):
        model.log_prob(torch.zeros(2, *shape))


@pytest.mark.parametrize("name", NAMES)
def test_gradients_reach_parameters_and_loss_falls(name):
    shape = grid(name, 2, 2)
    model = tiny(name, shape, 2).train()
    x = torch.tensor([1, 0, 0, 1]).reshape(shape).expand(16, *shape)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for step in range(60):
        loss = -model.training_log_prob(x, None, step).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first - 0.5
    assert math.isfinite(loss.item())
