"""Video Pixel Networks: causality across and inside frames, the known-frames fast path of generation, the grey
values read as Bernoulli probabilities (the paper's protocol) against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

import chainrule as cr
from chainrule.distributions import Bernoulli
from chainrule.models import MODELS
from chainrule.sampling import sample_cached, sample_naive
from chainrule.sampling.conditionals import walk_conditionals


def tiny(shape=(3, 1, 4, 4), levels=3, **extra):
    torch.manual_seed(0)
    model = cr.models.create("vpn", shape=shape, levels=levels, **{**MODELS.get("vpn").tiny, **extra})
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


@torch.no_grad()
def test_a_later_frame_or_position_never_moves_an_earlier_conditional():
    model = tiny()
    x = torch.randint(0, 3, (2, 3, 1, 4, 4), generator=torch.Generator().manual_seed(1))
    base = model.log_prob(x, reduction="none")
    y = x.clone()
    y[:, 1, 0, 2, 1] = (y[:, 1, 0, 2, 1] + 1) % 3  # frame 1, row 2, column 1
    moved = model.log_prob(y, reduction="none")
    assert torch.equal(moved[:, 0], base[:, 0])  # the first frame reads no later frame
    flat_b, flat_m = base[:, 1, 0].flatten(1), moved[:, 1, 0].flatten(1)
    assert torch.equal(flat_m[:, : 2 * 4 + 1], flat_b[:, : 2 * 4 + 1])  # earlier positions of the same frame
    assert not torch.allclose(flat_m[:, 2 * 4 + 2 :], flat_b[:, 2 * 4 + 2 :])  # later ones do read it
    assert not torch.allclose(moved[:, 2], base[:, 2])  # so does the next frame, through the ConvLSTM


@torch.no_grad()
def test_the_first_frame_is_modelled_without_temporal_context():
    model = tiny()
    x = torch.randint(0, 3, (2, 3, 1, 4, 4))
    alone = cr.models.create("vpn", shape=(1, 1, 4, 4), levels=3, **MODELS.get("vpn").tiny)
    state = {k: v for k, v in model.state_dict().items()}
    alone.load_state_dict(state)
    first = alone.eval().log_prob(x[:, :1], reduction="none")[:, 0]
    assert torch.allclose(model.log_prob(x, reduction="none")[:, 0], first)


@pytest.mark.parametrize("levels,colours", [(2, 1), (4, 3)])
def test_cached_completion_of_given_frames_equals_naive(levels, colours):
    model = tiny((3, colours, 3, 3), levels)
    truth = torch.randint(0, levels, (3, 3, colours, 3, 3), generator=torch.Generator().manual_seed(2))
    known = truth.clone()
    known[:, 1:] = -1
    known[:, 1, :, 0, 0] = truth[:, 1, :, 0, 0]  # and one value of the next frame: part-frame prefix
    a = sample_naive(model, 3, known=known, generator=torch.Generator().manual_seed(3))
    b = sample_cached(model, 3, known=known, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(b[:, 0], truth[:, 0]) and torch.equal(b[:, 1, :, 0, 0], truth[:, 1, :, 0, 0])


@torch.no_grad()
def test_filing_whole_frames_gives_the_conditionals_of_stepping_through_them():
    model = tiny((3, 1, 3, 3), 3)
    x = torch.randint(0, 3, (2, 3, 1, 3, 3))
    order = model.order
    prefix = x.flatten(1)[:, order[:11]]  # one whole frame and two values of the next
    stepped = model.init_cache(2)
    expected = model.cache_step(stepped, None)
    for v in prefix.unbind(1):
        expected = model.cache_step(stepped, v)
    filed = model.init_cache(2)
    got = model.cache_prefix(filed, prefix)
    assert torch.allclose(got, expected, atol=1e-5) and filed.t == stepped.t
    assert torch.allclose(got, model.next_log_probs(x, None, 11), atol=1e-5)


def test_the_prefix_is_never_drawn_and_the_walk_starts_after_it():
    model = tiny((2, 1, 2, 2), 2)
    seen = []

    def choose(t, log_probs):
        seen.append(t)
        return torch.zeros(1, dtype=torch.long)

    walk_conditionals(model, 1, choose, prefix=torch.ones(1, 4, dtype=torch.long))
    assert seen == [4, 5, 6, 7]


def test_bernoulli_probabilities_and_their_entropy_against_hand_computed_values():
    logit, p = torch.tensor([[[0.0]], [[2.0]]]), torch.tensor([[0.5], [0.25]])
    got = Bernoulli.soft_log_prob(logit, p)
    s = 1 / (1 + math.exp(-2.0))
    assert got[0, 0].item() == pytest.approx(math.log(0.5))
    assert got[1, 0].item() == pytest.approx(0.25 * math.log(s) + 0.75 * math.log(1 - s))
    h = Bernoulli.entropy(torch.tensor([0.0, 0.5, 1.0, 0.25]))
    assert h.tolist() == pytest.approx([0.0, math.log(2), 0.0, -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))])


@torch.no_grad()
def test_soft_targets_score_the_expected_log_probability_of_binary_draws():
    """At a pixel whose context is fixed (the very first one), the soft score is the mean log-probability of
    binary values drawn from the target probability."""
    model = tiny((2, 1, 2, 2), 2)
    p = torch.rand(1, 2, 1, 2, 2, generator=torch.Generator().manual_seed(4))
    soft = model.frame_log_probs(p)
    assert soft.shape == (1, 2) and bool((soft < 0).all())
    first = model.soft_dim_log_probs(p)[0, 0, 0, 0, 0]
    ones, zeros = torch.ones(1, 2, 1, 2, 2, dtype=torch.long), torch.zeros(1, 2, 1, 2, 2, dtype=torch.long)
    lp1 = model.log_prob(ones, reduction="none")[0, 0, 0, 0, 0]
    lp0 = model.log_prob(zeros, reduction="none")[0, 0, 0, 0, 0]
    assert first.item() == pytest.approx((p[0, 0, 0, 0, 0] * lp1 + (1 - p[0, 0, 0, 0, 0]) * lp0).item(), abs=1e-5)
    with pytest.raises(cr.errors.InputError, match="binary"):
        tiny((2, 1, 2, 2), 3).frame_log_probs(p)
    with pytest.raises(cr.errors.InputError, match="probabilities"):
        model.frame_log_probs(p * 2)


def test_impossible_configs_are_refused():
    with pytest.raises(cr.errors.ConfigError, match="frames"):
        cr.models.create("vpn", shape=(1, 4, 4), levels=2)
    with pytest.raises(cr.errors.ConfigError, match="block"):
        cr.models.create("vpn", shape=(2, 1, 4, 4), levels=2, block="other")
    with pytest.raises(cr.errors.ConfigError, match="colour"):
        cr.models.create("vpn", shape=(2, 3, 4, 4), levels=2, channels=4)


def test_the_multiplicative_blocks_build_and_stay_causal():
    model = tiny((2, 1, 3, 3), 2, block="multiplicative")
    x = torch.randint(0, 2, (2, 2, 1, 3, 3))
    with torch.no_grad():
        base = model.log_prob(x, reduction="none")
        y = x.clone()
        y[:, 1] = 1 - y[:, 1]
        assert torch.equal(model.log_prob(y, reduction="none")[:, 0], base[:, 0])
