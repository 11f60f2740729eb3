"""PixelCNN++ and PixelSNAIL specifics: the mixture head layout, long-range causal attention, the dequantized
objective."""

import pytest
import torch

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.models import MODELS
from chainrule.nn.attention import CausalImageAttention
from tests.models.test_image_models import build, depends


def test_attention_is_strictly_causal_at_long_range():
    torch.manual_seed(0)
    attention = CausalImageAttention(3, 3, key_channels=8, value_channels=8, heads=2)
    with torch.no_grad():
        attention.start.normal_()
    q, src = torch.randn(2, 3, 6, 6), torch.randn(2, 3, 6, 6)
    base = attention(q, src).flatten(2)
    for s in [0, 7, 20, 35]:
        moved_src = src.clone().flatten(2)
        moved_src[:, :, s] += 1.0
        moved = attention(q, moved_src.reshape(src.shape)).flatten(2)
        assert torch.equal(moved[:, :, : s + 1], base[:, :, : s + 1])  # itself and everything before: untouched
        if s + 1 < 36:
            assert not torch.allclose(moved[:, :, s + 1 :], base[:, :, s + 1 :])  # something later reads it


def test_pixelsnail_reaches_the_first_pixel_from_the_last_through_attention():
    model = build("pixelsnail", shape=(1, 8, 8), levels=4, blocks=1, resnets=0)
    assert depends(model, (0, 7, 7), (0, 0, 0))  # far outside the 2x2 convolutions' reach
    assert depends(model, (0, 5, 1), (0, 4, 7))  # above-right, the PixelCNN blind spot
    assert not depends(model, (0, 4, 6), (0, 4, 7))


@pytest.mark.parametrize("name", ["pixelcnn++", "pixelsnail"])
def test_odd_sizes_and_colour_layout(name):
    model = build(name, shape=(3, 7, 5), levels=8)
    x = torch.randint(0, 8, (2, 3, 7, 5))
    assert model(x).shape == (2, 7, 5, model.head.params_per_position)
    assert model.log_prob(x, reduction="none").shape == (2, 3, 7, 5)
    grey = build(name, shape=(1, 7, 5), levels=8)
    assert grey(x[:, :1]).shape == (2, 1, 7, 5, 3 * grey.config.components)


@pytest.mark.parametrize("name", ["pixelcnn++", "pixelsnail"])
def test_dequantized_objective_trains_a_bound_below_the_discrete_likelihood(name):
    model = build(name, shape=(1, 3, 3), levels=8, objective="dequantized").train()
    x = torch.randint(0, 8, (4, 1, 3, 3))
    with torch.no_grad():
        bound = torch.stack([model.training_log_prob(x, None, 0) for _ in range(200)]).mean(0)
        exact = model.log_prob(x)
    assert (bound < exact).all()
    with pytest.raises(ConfigError, match="objective"):
        build(name, objective="continuous")


@pytest.mark.parametrize("name", ["pixelcnn++", "pixelsnail"])
def test_mixture_model_config_errors(name):
    with pytest.raises(ConfigError, match="dropout"):
        build(name, dropout=1.0)
    with pytest.raises(ConfigError, match="components"):
        build(name, components=0)
    assert "paper" in cr.models.presets(name) and "cpu" in cr.models.presets(name)
    assert MODELS.get(name).kind == "image"


def test_dequantized_evaluation_bounds_the_exact_nll():
    from chainrule.train.evaluate import evaluate

    data = cr.data.load_splits("digits")["test"]
    model = build("pixelcnn++", shape=data.shape, levels=data.levels)
    exact = evaluate(model, data)
    bound = evaluate(model, data, dequantized=True)
    assert bound["bpd"] > exact["bpd"] and bound["examples"] == exact["examples"]
    assert evaluate(model, data, dequantized=True)["nats"] == bound["nats"]  # seeded noise: reproducible


@pytest.mark.parametrize("shape", [(1, 7, 5), (3, 6, 6)])
def test_pixelcnnpp_cached_generation_equals_naive_over_three_scales(shape):
    from chainrule.sampling import sample_cached, sample_naive

    model = build("pixelcnn++", shape=shape, levels=4, resnets=2, scales=3)
    fast = sample_cached(model, 3, generator=torch.Generator().manual_seed(1))
    slow = sample_naive(model, 3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fast, slow)
