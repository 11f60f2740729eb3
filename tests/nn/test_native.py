"""The compiled WaveNet step (`nn.native`, gated_stack_step.c) against the PyTorch step it replaces."""

import pytest
import torch

import chainrule as cr
from chainrule.nn import native
from chainrule.nn.causal_conv import GatedStackStep

needs_compiler = pytest.mark.skipif(native.compiler() is None, reason="no C compiler installed")


def wavenet(length=400, **overrides):
    torch.manual_seed(0)
    hparams = {**cr.models.preset_hparams("wavenet", "cpu", (length,)), **overrides}
    model = cr.models.create("wavenet", shape=(length,), levels=256, **hparams).eval()
    for p in model.parameters():  # weights far from their initial scale, so that every term matters
        p.data.normal_(0, 0.2)
    return model


@needs_compiler
@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("with_head", [False, True])
def test_the_compiled_step_equals_the_pytorch_step(kernel, with_head):
    model = wavenet(kernel=kernel, layers=6)
    head = (model.hidden, model.output) if with_head else None
    rows = 3
    with torch.no_grad():
        fast = GatedStackStep(model.convs, model.residual, model.skip, rows, head=head)
        slow = GatedStackStep(model.convs, model.residual, model.skip, rows, head=head)
        assert fast.kernel is not None
        slow.kernel = None
        g = torch.Generator().manual_seed(1)
        for t in range(300):  # past the longest ring (kernel - 1) · 32, through a regrouping of the rows
            x = torch.randn(rows, model.config.channels, generator=g)
            fast.input_views[0].copy_(x)
            slow.input_views[0].copy_(x)
            biases = torch.randn(len(model.convs), rows, 2 * model.config.channels, generator=g) if t % 3 else None
            a, b = fast.step(t, biases).clone(), slow.step(t, biases)
            assert a.shape == b.shape == (rows, 256 if with_head else model.config.skip_channels)
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))
            if t == 150:
                fast.reorder(torch.tensor([2, 0, 0]))
                slow.reorder(torch.tensor([2, 0, 0]))


@needs_compiler
def test_cached_sampling_through_the_compiled_step_draws_the_naive_samples():
    model = wavenet(length=120, layers=4)
    with torch.no_grad():
        fast = cr.sampling.sample_cached(model, 2, generator=torch.Generator().manual_seed(5))
        slow = cr.sampling.sample_naive(model, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(fast, slow)


def test_switched_off_or_unbuildable_it_falls_back_to_the_pytorch_step(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))
    native.library.cache_clear()
    try:
        monkeypatch.setenv("CHAINRULE_NATIVE", "0")
        assert native.library("gated_stack_step") is None
        model = wavenet(length=50, layers=3)
        step = GatedStackStep(model.convs, model.residual, model.skip, 1)
        assert step.kernel is None and step.step(0, None).shape == (1, model.config.skip_channels)
        native.library.cache_clear()
        monkeypatch.setenv("CHAINRULE_NATIVE", "1")
        monkeypatch.setenv("CC", "false")  # a compiler that fails
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        assert native.library("gated_stack_step") is None
        assert not list(tmp_path.rglob("*.so"))
    finally:
        native.library.cache_clear()


@needs_compiler
def test_the_build_is_kept_per_source_and_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_CACHE", str(tmp_path))
    native.library.cache_clear()
    try:
        assert native.library("gated_stack_step") is not None
        built = list((tmp_path / "native").glob("gated_stack_step-*.so"))
        assert len(built) == 1
        stamp = built[0].stat().st_mtime_ns
        native.library.cache_clear()
        assert native.library("gated_stack_step") is not None  # a second process loads, it does not rebuild
        assert built[0].stat().st_mtime_ns == stamp
    finally:
        native.library.cache_clear()


@needs_compiler
def test_loading_the_library_leaves_subnormal_floats_alone():
    import numpy as np

    assert native.library("gated_stack_step") is not None
    tiny = np.float32(1e-45)  # the smallest float32 subnormal: flushed to zero under fast-math's processor flags
    assert tiny > 0 and np.float32(1e-38) / np.float32(1e4) > 0
