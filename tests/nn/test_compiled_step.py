"""The compiled per-position step of Gated PixelCNN's stacks gives the conditionals of the layers' own steps."""

import pytest
import torch

import chainrule as cr
from chainrule.data import Condition
from chainrule.models import MODELS
from tests.helpers import spread_parameters


def walk(model, x, cond, compiled: bool) -> torch.Tensor:
    """Every conditional of a cached raster walk over x, (B, D, K)."""
    model.compiled_steps = compiled
    cache = model.init_cache(len(x), cond)
    out = [model.cache_step(cache, None)]
    for value in x.flatten(1)[:, model.order[:-1]].unbind(1):
        out.append(model.cache_step(cache, value))
    return torch.stack(out, 1)


@pytest.mark.parametrize(
    "shape,levels,extra",
    [
        ((1, 5, 4), 3, {}),
        ((3, 4, 3), 4, dict(num_classes=3)),  # colour and a class: the head's bias path
        ((1, 4, 4), 2, dict(map_shape=(2, 2, 2), map_channels=2)),  # a map of values: a bias per position
    ],
)
@torch.no_grad()
def test_compiled_stack_step_equals_the_layer_steps(shape, levels, extra):
    torch.manual_seed(0)
    tiny = MODELS.get("gated-pixelcnn").tiny
    model = cr.models.create("gated-pixelcnn", shape=shape, levels=levels, **{**tiny, **extra})
    spread_parameters(model.eval())
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, levels, (2, *shape), generator=g)
    cond = None
    if "num_classes" in extra:
        cond = torch.tensor([0, 2])
    elif "map_shape" in extra:
        cond = Condition(map=torch.randn(2, *extra["map_shape"], generator=g))
    compiled, eager = walk(model, x, cond, True), walk(model, x, cond, False)
    assert torch.allclose(compiled, eager, atol=1e-5)
    order = torch.as_tensor(model.order)
    chosen = compiled.gather(2, x.flatten(1)[:, order, None]).squeeze(2)  # log p(x_t | x_<t) along the walk
    assert torch.allclose(chosen, model.log_prob(x, cond, reduction="none").flatten(1)[:, order], atol=1e-4)
