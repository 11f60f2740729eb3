import math

import pytest
import torch

from chainrule.distributions import Bernoulli, Categorical, DiscretizedLogisticMixture
from chainrule.distributions.discretized_logistic import bin_log_prob
from tests.helpers import chi_square_pvalue, enumerate_space


def heads_and_params():
    g = torch.Generator().manual_seed(1)
    yield Bernoulli(), torch.randn(3, 4, 1, generator=g) * 3
    yield Categorical(5), torch.randn(3, 4, 5, generator=g) * 3
    mixture = DiscretizedLogisticMixture(levels=6, components=3)
    yield mixture, torch.randn(3, 4, mixture.params_per_position, generator=g) * 2


@pytest.mark.parametrize("head,params", list(heads_and_params()), ids=["bernoulli", "categorical", "mixture"])
def test_per_dimension_heads_normalise_and_agree(head, params):
    K = head.levels
    for i in range(params.shape[1]):
        all_levels = head.log_probs_at(params, torch.zeros(3, 4, dtype=torch.long), (i,))
        assert torch.allclose(all_levels.exp().sum(-1), torch.ones(3), atol=1e-5)
        for k in range(K):
            x = torch.full((3, 4), k, dtype=torch.long)
            assert torch.allclose(head.log_prob(params, x)[:, i], all_levels[:, k], atol=1e-5)


def logistic_mass_by_integration(level, levels, mean, scale, points=20001):
    """Oracle: trapezoid integration of the logistic density over the bin (outer bins to ±40 scales)."""
    half = 1.0 / (levels - 1)
    centre = 2 * level * half - 1
    lo = centre - half if level > 0 else mean - 40 * scale
    hi = centre + half if level < levels - 1 else mean + 40 * scale
    t = torch.linspace(lo, hi, points, dtype=torch.float64)
    z = (t - mean) / scale
    density = torch.exp(-z) / (scale * (1 + torch.exp(-z)) ** 2)
    return float(torch.trapezoid(density, t))


@pytest.mark.parametrize("mean,log_scale", [(0.0, -1.0), (0.7, -2.5), (-0.9, 0.3), (0.1, -4.0)])
def test_bin_mass_matches_numerical_integration(mean, log_scale):
    levels = 8
    for level in range(levels):
        got = (
            bin_log_prob(
                torch.tensor(level),
                levels,
                torch.tensor(mean, dtype=torch.float64),
                torch.tensor(log_scale, dtype=torch.float64),
            )
            .exp()
            .item()
        )
        want = logistic_mass_by_integration(level, levels, mean, math.exp(log_scale))
        assert got == pytest.approx(want, abs=2e-6)


def test_mixture_is_stable_at_edge_levels_and_extreme_parameters():
    head = DiscretizedLogisticMixture(levels=256, components=2)
    params = torch.tensor(
        [[[0.0, 0.0, 30.0, -30.0, -7.0, -7.0]], [[0.0, 5.0, 0.0, 0.0, 5.0, -7.0]]], requires_grad=True
    )
    x = torch.tensor([[0], [255]])
    lp = head.log_prob(params, x)
    assert torch.isfinite(lp).all()
    lp.sum().backward()
    assert torch.isfinite(params.grad).all()
    all_levels = head.log_probs_at(params.detach(), x, (0,))
    assert torch.allclose(all_levels.exp().sum(-1), torch.ones(2), atol=1e-5)


def test_categorical_and_bernoulli_are_exact_at_extreme_logits():
    lp = Bernoulli().log_prob(torch.tensor([[[80.0]], [[-80.0]]]), torch.tensor([[1], [1]]))
    assert lp[0, 0] == pytest.approx(0.0, abs=1e-6) and lp[1, 0] == pytest.approx(-80.0, rel=1e-5)
    lp = Categorical(3).log_prob(torch.tensor([[[100.0, -100.0, 0.0]]]), torch.tensor([[1]]))
    assert lp.item() == pytest.approx(-200.0, rel=1e-5)


def test_coupled_mixture_normalises_over_whole_pixels():
    head = DiscretizedLogisticMixture(levels=4, components=3, channels=3)
    params = torch.randn(1, 2, head.params_per_position, generator=torch.Generator().manual_seed(2)) * 2
    pixels = enumerate_space((3,), 4)  # (64, 3)
    x = pixels[:, :, None].expand(64, 3, 2)
    joint = head.log_prob(params.expand(64, 2, -1), x).sum(1)  # (64, 2)
    assert torch.allclose(joint.exp().sum(0), torch.ones(2), atol=1e-5)
    for c in range(3):  # per-channel conditionals agree with log_probs_at
        at = head.log_probs_at(params.expand(64, 2, -1), x, (c, 1))
        assert torch.allclose(at.exp().sum(-1), torch.ones(64), atol=1e-5)
        assert torch.allclose(
            at.gather(1, x[:, c, 1:2]).squeeze(1),
            head.log_prob(params.expand(64, 2, -1), x)[:, c, 1],
            atol=1e-5,
        )


def test_coupled_green_depends_on_red_but_red_not_on_green():
    head = DiscretizedLogisticMixture(levels=8, components=1, channels=3)
    params = torch.zeros(1, 1, head.params_per_position)
    params[..., 7:10] = 5.0  # strong positive coupling coefficients
    a = torch.tensor([[[1], [4], [4]]])
    b = torch.tensor([[[6], [4], [4]]])
    c = torch.tensor([[[1], [0], [4]]])
    lp_a, lp_b, lp_c = (head.log_prob(params, v) for v in (a, b, c))
    assert not torch.allclose(lp_a[:, 1], lp_b[:, 1])  # G's conditional moves with R
    assert torch.allclose(lp_a[:, 0], lp_c[:, 0])  # R's does not move with G


@pytest.mark.parametrize("head,params", list(heads_and_params()), ids=["bernoulli", "categorical", "mixture"])
def test_head_sampling_matches_probabilities(head, params):
    g = torch.Generator().manual_seed(3)
    one = params[:1, :1].expand(20000, 1, -1)
    draws = head.sample(one, generator=g)[:, 0]
    probs = head.log_probs_at(params[:1, :1], torch.zeros(1, 1, dtype=torch.long), (0,))[0].exp()
    assert chi_square_pvalue(draws, probs) > 1e-3


def test_coupled_sampling_matches_joint():
    head = DiscretizedLogisticMixture(levels=3, components=2, channels=3)
    params = torch.randn(1, 1, head.params_per_position, generator=torch.Generator().manual_seed(4))
    draws = head.sample(params.expand(30000, 1, -1), generator=torch.Generator().manual_seed(5))[:, :, 0]
    pixels = enumerate_space((3,), 3)
    joint = head.log_prob(params.expand(27, 1, -1), pixels[:, :, None]).sum(1)[:, 0].exp()
    codes = draws[:, 0] * 9 + draws[:, 1] * 3 + draws[:, 2]
    assert chi_square_pvalue(codes, joint) > 1e-3


@pytest.mark.parametrize("mean,log_scale", [(0.0, -1.0), (0.3, -2.5)])
def test_dequantized_density_integrates_to_the_interior_bin_mass(mean, log_scale):
    from chainrule.distributions.discretized_logistic import dequantized_log_density

    levels, noise = 6, torch.linspace(0, 1, 4001, dtype=torch.float64)
    m, s = torch.tensor(mean, dtype=torch.float64), torch.tensor(log_scale, dtype=torch.float64)
    for level in range(1, levels - 1):  # interior bins: the dequantized bin is exactly the discrete one
        density = dequantized_log_density(torch.tensor(level), noise, levels, m, s).exp()
        want = bin_log_prob(torch.tensor(level), levels, m, s).exp().item()
        assert float(torch.trapezoid(density, noise)) == pytest.approx(want, rel=1e-6)


def test_dequantized_bound_lies_below_the_discrete_log_likelihood():
    head = DiscretizedLogisticMixture(levels=5, components=2, channels=3)
    g = torch.Generator().manual_seed(0)
    params = torch.randn(4, 2, head.params_per_position, generator=g)
    x = torch.randint(0, 5, (4, 3, 2), generator=g)
    draws = torch.stack(
        [head.dequantized_log_prob(params, x, torch.rand(x.shape, generator=g)).sum((1, 2)) for _ in range(400)]
    )
    exact = head.log_prob(params, x).sum((1, 2))
    assert (draws.mean(0) < exact).all()
