"""Speed options of the training step change the speed, not the likelihood: compiled, channels-last and fused
AdamW against the plain eager step."""

import shutil

import pytest
import torch

import chainrule as cr
from chainrule.train import speed
from chainrule.train.distributed import LogLikelihood


def tiny(name="gated-pixelcnn", shape=(1, 6, 6), levels=4):
    torch.manual_seed(0)
    return cr.models.create(name, shape=shape, levels=levels, **cr.models.MODELS.get(name).tiny)


def batch(model, n=4):
    return torch.randint(0, model.levels, (n, *model.shape), generator=torch.Generator().manual_seed(1))


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="inductor needs a C++ compiler")
def test_the_compiled_step_gives_the_eager_log_likelihood():
    model = tiny()
    x = batch(model)
    eager = model.training_log_prob(x, None, 0)
    compiled = speed.compiled(LogLikelihood(model), True)(x, None, 0)
    assert torch.allclose(compiled, eager, rtol=1e-5, atol=1e-4)
    compiled.sum().backward()  # and it trains
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_channels_last_weights_give_the_same_log_likelihood():
    model, other = tiny(), tiny()
    x = batch(model)
    speed.apply_memory_format(other, True)
    assert any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last) for p in other.parameters())
    assert not any(p.dim() == 4 and not p.is_contiguous() for p in model.parameters())
    assert torch.allclose(other.training_log_prob(x, None, 0), model.training_log_prob(x, None, 0), atol=1e-4)


def test_fused_adamw_takes_the_same_step():
    results = []
    for fused in (False, True):
        model = tiny()
        optimizer = speed.optimizer(model, 1e-2, fused=fused)
        for step in range(3):
            optimizer.zero_grad()
            (-model.training_log_prob(batch(model), None, step).mean()).backward()
            optimizer.step()
        results.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.allclose(results[0], results[1], atol=1e-5)
