"""Image-family specifics: the blind spot, conditioning, colour channels and config errors."""

import pytest
import torch

import chainrule as cr
from chainrule.errors import ConfigError, InputError
from chainrule.models import MODELS
from tests.helpers import spread_parameters

IMAGE_MODELS = [n for n in cr.models.available() if MODELS.get(n).kind == "image"]
CONDITIONAL_MODELS = [n for n in IMAGE_MODELS if "num_classes" in cr.config.field_names(MODELS.get(n).config)]


def build(name, shape=(1, 6, 6), levels=2, **extra):
    torch.manual_seed(0)
    model = cr.models.create(name, shape=shape, levels=levels, **{**MODELS.get(name).tiny, **extra}).eval()
    spread_parameters(model)
    return model


def depends(model, at, on, trials=4):
    """Does log p(x_at | x_<at) move when pixel `on` changes (over a few random images)?"""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, model.levels, (trials, *model.shape), generator=g)
    y = x.clone()
    y[(slice(None), *on)] = (y[(slice(None), *on)] + 1) % model.levels
    with torch.no_grad():
        a = model.log_prob(x, reduction="none")[(slice(None), *at)]
        b = model.log_prob(y, reduction="none")[(slice(None), *at)]
    return not torch.allclose(a, b)


def test_pixelcnn_has_the_documented_blind_spot():
    model = build("pixelcnn", blocks=4)
    assert depends(model, (0, 3, 1), (0, 2, 2))  # just above-right: in the receptive field
    assert not depends(model, (0, 3, 1), (0, 2, 3))  # two to the right in the row above: blind
    assert not depends(model, (0, 3, 1), (0, 2, 5))


@pytest.mark.parametrize(
    "name,depth",
    [
        ("gated-pixelcnn", dict(layers=4)),
        ("diagonal-bilstm", dict(layers=2)),
        ("pixelcnn++", dict(resnets=1, scales=2)),
        ("pixelsnail", dict(blocks=1, resnets=0)),
    ],
)
def test_no_blind_spot(name, depth):
    model = build(name, **depth)
    for above_right in [(0, 2, 2), (0, 2, 3), (0, 2, 4), (0, 1, 5)]:
        assert depends(model, (0, 3, 1), above_right), above_right


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_rgb_order_inside_a_pixel(name):
    model = build(name, shape=(3, 3, 3), levels=4)
    assert depends(model, (1, 1, 1), (0, 1, 1))  # G sees R of the same pixel
    assert depends(model, (2, 1, 1), (1, 1, 1))  # B sees G
    assert not depends(model, (0, 1, 1), (1, 1, 1))  # R does not see G
    assert not depends(model, (1, 1, 1), (2, 1, 1))  # G does not see B


@pytest.mark.parametrize("name", CONDITIONAL_MODELS)
def test_class_conditioning_changes_the_distribution_and_stays_normalised(name):
    from tests.helpers import enumerate_space

    model = build(name, shape=(1, 2, 2), num_classes=3)
    xs = enumerate_space((1, 2, 2), 2)
    with torch.no_grad():
        per_class = [model.log_prob(xs, torch.full((16,), k)).exp() for k in range(3)]
    for probs in per_class:
        assert probs.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert not torch.allclose(per_class[0], per_class[1], atol=1e-4)
    with pytest.raises(InputError, match="class outside"):
        model.log_prob(xs, torch.full((16,), 3))
    samples = model.sample(3, cond=torch.tensor([0, 1, 2]), generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, 1, 2, 2)


@pytest.mark.parametrize("name", CONDITIONAL_MODELS)
def test_a_conditional_model_starts_as_the_unconditional_one(name):
    torch.manual_seed(0)
    model = cr.models.create(name, shape=(1, 3, 3), levels=4, **{**MODELS.get(name).tiny, "num_classes": 5}).eval()
    x = torch.randint(0, 4, (5, 1, 3, 3))
    with torch.no_grad():
        per_class = [model.log_prob(x, torch.full((5,), k)) for k in range(5)]
        unconditional = model.log_prob(x)
    for lp in per_class:
        assert torch.equal(lp, per_class[0])
    assert torch.allclose(per_class[0], unconditional)


def test_vector_conditioning():
    model = build("gated-pixelcnn", shape=(1, 3, 3), cond_dim=4)
    x = torch.randint(0, 2, (2, 1, 3, 3))
    a = model.log_prob(x, torch.zeros(2, 4))
    b = model.log_prob(x, torch.ones(2, 4))
    assert not torch.allclose(a, b)
    with pytest.raises(InputError, match="shape"):
        model.log_prob(x, torch.ones(2, 5))
    with pytest.raises(InputError, match="class ids"):
        model.log_prob(x, torch.tensor([0, 1]))


@pytest.mark.parametrize("name", IMAGE_MODELS)
def test_image_model_bad_configs_and_inputs(name):
    with pytest.raises(ConfigError, match="channels, height, width"):
        build(name, shape=(16,))
    if "components" not in cr.config.field_names(MODELS.get(name).config):  # channel-group masks
        with pytest.raises(ConfigError, match="multiple of the 3 colour channels"):
            build(name, shape=(3, 4, 4), channels=4)
    model = build(name, shape=(3, 4, 4), levels=4)
    with pytest.raises(InputError, match="shape"):
        model.log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(InputError, match="values"):
        model.log_prob(torch.full((2, 3, 4, 4), 4))
    with pytest.raises(InputError, match="unconditional"):
        model.log_prob(torch.zeros(2, 3, 4, 4, dtype=torch.long), torch.tensor([0, 1]))


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("shape,levels", [((1, 5, 4), 3), ((3, 3, 4), 4)])
def test_cached_generation_equals_naive_grey_rgb_known_and_class(name, shape, levels):
    from chainrule.sampling import sample_cached, sample_naive

    conditional = "num_classes" in cr.config.field_names(MODELS.get(name).config)
    model = build(name, shape=shape, levels=levels, **(dict(num_classes=3) if conditional else {}))
    labels = torch.tensor([0, 2, 1]) if conditional else None
    known = torch.full((3, *shape), -1)
    known[:, :, 0] = torch.randint(0, levels, known[:, :, 0].shape)  # the first row given
    known[1, :, 2, 1] = 1  # and one pixel further down
    for k in (None, known):
        fast = sample_cached(model, 3, cond=labels, known=k, generator=torch.Generator().manual_seed(7))
        slow = sample_naive(model, 3, cond=labels, known=k, generator=torch.Generator().manual_seed(7))
        assert torch.equal(fast, slow)


def stepped_and_filed(model, x, steps, cond=None):
    """The conditional of step `steps` after stepping through the first ones and after `cache_prefix`, and the
    two caches."""
    prefix = x.flatten(1)[:, model.order[:steps]]
    stepped = model.init_cache(len(x), cond)
    expected = model.cache_step(stepped, None)
    for value in prefix.unbind(1):
        expected = model.cache_step(stepped, value)
    filed = model.init_cache(len(x), cond)
    return expected, model.cache_prefix(filed, prefix), stepped, filed


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize("shape,levels", [((1, 6, 4), 3), ((3, 5, 4), 4)])
@torch.no_grad()
def test_filing_known_rows_at_once_gives_the_conditionals_of_stepping(name, shape, levels):
    conditional = name in CONDITIONAL_MODELS
    model = build(name, shape=shape, levels=levels, **(dict(num_classes=3) if conditional else {}))
    labels = torch.tensor([0, 2]) if conditional else None
    x = torch.randint(0, levels, (2, *shape), generator=torch.Generator().manual_seed(1))
    row = model.row_steps
    for steps in (2 * row, 3 * row + 1, model.dims - 2):  # whole rows, and a part of the next one
        expected, got, stepped, filed = stepped_and_filed(model, x, steps, labels)
        assert torch.allclose(got, expected, atol=1e-5) and filed.t == stepped.t
        assert torch.allclose(got, model.next_log_probs(x, labels, steps), atol=1e-4)
        value = x.flatten(1)[:, model.order[steps]]  # and the walk goes on from the filed cache as from the other
        assert torch.allclose(model.cache_step(filed, value), model.cache_step(stepped, value), atol=1e-5)


def test_gated_pixelcnn_files_known_rows_in_one_pass():
    model = build("gated-pixelcnn", shape=(1, 6, 4), levels=3)
    calls = []
    model.begin_row = lambda cache, i: calls.append(i) or type(model).begin_row(model, cache, i)
    x = torch.randint(0, 3, (2, 1, 6, 4), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        model.cache_prefix(model.init_cache(2), x.flatten(1)[:, :17])  # four rows and one value
    assert calls == [4]  # rows 0 .. 2 filed in one pass, row 3 by row 4's per-row work


def test_presets_fit_colour_images():
    from chainrule.models import presets

    grey, rgb = presets("pixelcnn", (1, 8, 8))["cpu"], presets("pixelcnn", (3, 8, 8))["cpu"]
    assert grey["channels"] == 32 and rgb["channels"] == 33 and rgb["hidden"] % 3 == 0
    for name in ("pixelcnn", "gated-pixelcnn", "row-lstm", "diagonal-bilstm"):
        hparams = cr.models.preset_hparams(name, "cpu", (3, 4, 4))
        cr.models.create(name, shape=(3, 4, 4), levels=4, **hparams)  # builds without a ConfigError


def test_the_diagonal_bilstm_sees_every_earlier_pixel():
    # the audit's case: (1, 3, 10), 4 layers, first kernel 7; pixels (1, 0..5) were blind to (0, 9)
    torch.manual_seed(0)
    model = cr.models.create("diagonal-bilstm", shape=(1, 3, 10), levels=2, channels=6, layers=4, first_kernel=7)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(2.0)
    x = torch.randint(0, 2, (1, 1, 3, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        base = model.log_prob(x, reduction="none")[0, 0]
        for a in range(3):
            for b in range(10):
                y = x.clone()
                y[0, 0, a, b] ^= 1
                moved = (model.log_prob(y, reduction="none")[0, 0] - base).abs() > 1e-7
                later = torch.arange(30).reshape(3, 10) >= a * 10 + b  # its own term and every later one
                assert torch.equal(moved, later), (a, b)


def walk_against_full_pass(model, x, cond):
    """Feed x through the generation cache step by step; the largest gap between a step's probabilities and the
    full pass's conditional of that dimension (probabilities: a sharp conditional's log-probability of an unlikely
    value carries float rounding that no coder or sampler sees)."""
    n, worst = x.shape[0], 0.0
    with torch.no_grad():
        cache, previous = model.init_cache(n, cond), None
        for t, position in enumerate(model.order.tolist()):
            step = model.cache_step(cache, previous)
            worst = max(worst, (step.exp() - model.next_log_probs(x, cond, t).exp()).abs().max().item())
            previous = x.view(n, -1)[:, position]
    return worst


@pytest.mark.parametrize("name", IMAGE_MODELS)
@pytest.mark.parametrize(
    "shape,levels,batch,condition",
    [((1, 4, 6), 2, 3, None), ((3, 3, 4), 4, 1, None), ((1, 5, 3), 5, 3, "class"), ((3, 2, 5), 3, 3, "vector")],
)
def test_every_cached_step_equals_the_full_pass(name, shape, levels, batch, condition):
    # grey and RGB, batch 1 and 3, non-square, class and vector conditioning where the family takes them
    fields = cr.config.field_names(MODELS.get(name).config)
    extra, cond = {}, None
    if condition == "class" and "num_classes" in fields:
        extra, cond = dict(num_classes=3), torch.tensor([2, 0, 1])
    if condition == "vector" and "cond_dim" in fields:
        extra, cond = dict(cond_dim=2), torch.randn(batch, 2, generator=torch.Generator().manual_seed(3))
    model = build(name, shape=shape, levels=levels, **extra)  # weights spread, condition tables filled
    x = torch.randint(0, levels, (batch, *shape), generator=torch.Generator().manual_seed(2))
    assert walk_against_full_pass(model, x, cond) < 1e-5
