"""The completion benchmark's raster estimate of −log p(hidden | known) against exact enumeration."""

import itertools

import pytest
import torch

from chainrule.bench.completion import estimated_hidden_nats
from chainrule.models import create
from chainrule.scoring import hidden_bits


def raster_model():
    torch.manual_seed(0)
    return create("gated-pixelcnn", (1, 2, 3), 2, channels=6, layers=2, kernel=3, first_kernel=3, hidden=6).eval()


def exact_hidden_nats(model, x, known):
    xs = torch.tensor(list(itertools.product([0, 1], repeat=6))).view(-1, 1, 2, 3)
    fits = ((xs == x) | ~known).flatten(1).all(1)
    return float(-(model.log_prob(x) - torch.logsumexp(model.log_prob(xs[fits]), 0)))


def test_the_estimate_converges_to_the_exact_conditional():
    model = raster_model()
    x = torch.tensor([[[[1, 0, 1], [0, 1, 1]]]])
    known = torch.ones(1, 1, 2, 3, dtype=torch.bool)
    known[0, 0, 0, 0] = known[0, 0, 0, 2] = False  # hidden values before known ones in raster order
    exact = exact_hidden_nats(model, x, known)
    with torch.no_grad():
        estimate = float(estimated_hidden_nats(model, x, known, 4000, seed=1)[0])
    assert estimate == pytest.approx(exact, abs=0.02)


def test_known_values_first_make_one_candidate_exact():
    model = raster_model()
    x = torch.tensor([[[[1, 0, 1], [0, 1, 1]]]])
    known = torch.ones(1, 1, 2, 3, dtype=torch.bool)
    known[0, 0, 1] = False  # bottom row hidden: every known value comes first
    exact = exact_hidden_nats(model, x, known)
    assert float(estimated_hidden_nats(model, x, known, 1)[0]) == pytest.approx(exact, abs=1e-5)
    assert float(hidden_bits(model, x, known)[0][0]) == pytest.approx(exact, abs=1e-5)
