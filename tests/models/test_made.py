import math

import pytest
import torch

import chainrule as cr
from chainrule.errors import ConfigError


def made(**kw):
    torch.manual_seed(0)
    return cr.models.create("made", **{"shape": (1, 3, 3), "levels": 2, "hidden": (24, 24), **kw}).eval()


def test_ensemble_log_prob_is_log_mean_exp_of_the_masks():
    model = made(num_masks=4)
    x = torch.randint(0, 2, (5, 1, 3, 3))
    with torch.no_grad():
        per_mask = torch.stack([model.head.log_prob(model(x, mask=m), x).flatten(1).sum(1) for m in range(4)])
        assert torch.allclose(model.log_prob(x), torch.logsumexp(per_mask, 0) - math.log(4), atol=1e-5)


def test_masks_differ_and_training_cycles_through_them():
    model = made(num_masks=3)
    x = torch.randint(0, 2, (4, 1, 3, 3))
    with torch.no_grad():
        values = [model.training_log_prob(x, None, step) for step in range(4)]
    assert not torch.allclose(values[0], values[1])
    assert torch.equal(values[0], values[3])  # step 3 uses mask 0 again


def test_eval_masks_limits_the_ensemble():
    full, part = made(num_masks=4), made(num_masks=4, eval_masks=1)
    part.load_state_dict(full.state_dict())
    x = torch.randint(0, 2, (3, 1, 3, 3))
    with torch.no_grad():
        assert torch.allclose(part.log_prob(x), full.training_log_prob(x, None, 0))
        assert not torch.allclose(part.log_prob(x), full.log_prob(x))


def test_random_order_is_a_seeded_permutation():
    a, b, c = made(order="random", seed=1), made(order="random", seed=1), made(order="random", seed=2)
    assert torch.equal(a.order, b.order) and not torch.equal(a.order, c.order)
    assert sorted(a.order.tolist()) == list(range(9))


def test_one_hot_inputs_for_few_levels_and_scalar_for_many():
    assert made(levels=5).one_hot and not made(levels=2).one_hot and not made(levels=64).one_hot


@pytest.mark.parametrize(
    "bad",
    [
        dict(hidden=()),
        dict(num_masks=0),
        dict(eval_masks=5, num_masks=2),
        dict(levels=1),
        dict(shape=(0, 2)),
        dict(order="zigzag"),
    ],
)
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        made(**bad)


def test_unknown_hyperparameter_names_the_known_ones():
    with pytest.raises(ConfigError, match="known: shape, levels, hidden"):
        made(width=3)


@pytest.mark.parametrize("order", ["natural", "random"])
def test_every_mask_is_causal_in_the_model_order(order):
    model = made(num_masks=3, order=order, levels=3, seed=5)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (3, 1, 3, 3), generator=g)
    rank = torch.empty(9, dtype=torch.long)
    rank[model.order] = torch.arange(9)
    with torch.no_grad():
        for m in range(3):
            base = model.head.log_prob(model(x, mask=m), x).flatten(1)
            for j in range(9):
                y = x.clone().flatten(1)
                y[:, j] = (y[:, j] + 1) % 3
                moved = model.head.log_prob(model(y.reshape(x.shape), mask=m), y.reshape(x.shape)).flatten(1)
                earlier = rank <= rank[j]  # j itself changes its own term only through x_j
                earlier[j] = False
                assert torch.equal(moved[:, earlier], base[:, earlier]), (m, j)


def test_ensemble_sampling_follows_the_ensemble_distribution():
    from tests.helpers import chi_square_pvalue, enumerate_space

    model = made(shape=(3,), num_masks=3, order="random", hidden=(12,))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
        probs = model.log_prob(enumerate_space((3,), 2)).double().exp()
    draws = model.sample(6000, generator=torch.Generator().manual_seed(1))
    assert chi_square_pvalue(draws[:, 0] * 4 + draws[:, 1] * 2 + draws[:, 2], probs) > 1e-3


@pytest.mark.parametrize(
    "levels,extra",
    [
        (2, dict(direct=True)),
        (5, dict(order="random", num_masks=3)),  # one-hot inputs, an ensemble of masks
        (20, dict(order="random", direct=True)),  # scalar inputs
    ],
)
def test_incremental_sampling_equals_naive_also_when_completing(levels, extra):
    from chainrule.sampling import sample_cached, sample_naive

    torch.manual_seed(0)
    model = cr.models.create("made", shape=(1, 3, 3), levels=levels, hidden=(12, 10), **extra).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    known = torch.full((6, 1, 3, 3), -1)
    known[:, 0, 0, :] = torch.randint(0, levels, (6, 3))
    for k in (None, known):
        fast = sample_cached(model, 6, known=k, generator=torch.Generator().manual_seed(1))
        slow = sample_naive(model, 6, known=k, generator=torch.Generator().manual_seed(1))
        assert torch.equal(fast, slow)
    assert torch.equal(
        model.sample(6, generator=torch.Generator().manual_seed(2)),
        model.sample(6, generator=torch.Generator().manual_seed(2), cache=False),
    )
