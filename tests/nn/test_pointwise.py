"""1x1 convolutions as batched matrix products: the same outputs and gradients as F.conv2d."""

import pytest
import torch
import torch.nn.functional as F

from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.pointwise import PointwiseConv2d, pointwise_conv


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("layout", ["contiguous", "sliced", "channels_last"])
def test_pointwise_conv_matches_conv2d_values_and_gradients(bias, layout):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 4, 6, generator=g)
    if layout == "sliced":  # a non-contiguous view, as a row band of a bigger map
        x = torch.randn(3, 5, 9, 6, generator=g)[:, :, 2:6]
    elif layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    w = torch.randn(7, 5, 1, 1, generator=g)
    b = torch.randn(7, generator=g) if bias else None
    inputs = [t.clone().requires_grad_() for t in (x, w)] + ([b.clone().requires_grad_()] if bias else [])
    reference = [t.clone().requires_grad_() for t in (x, w)] + ([b.clone().requires_grad_()] if bias else [])
    y = pointwise_conv(*inputs)
    expected = F.conv2d(*reference)
    assert y.shape == expected.shape == (3, 7, x.shape[2], 6)
    assert torch.allclose(y, expected, atol=1e-5)
    upstream = torch.randn(y.shape, generator=g)
    y.backward(upstream)
    expected.backward(upstream)
    for a, r in zip(inputs, reference):
        assert torch.allclose(a.grad, r.grad, atol=1e-4)


def test_pointwise_layers_keep_the_conv2d_parameters():
    layer = PointwiseConv2d(4, 6)
    assert layer.weight.shape == (6, 4, 1, 1) and layer.bias.shape == (6,)
    x = torch.randn(2, 4, 3, 3)
    assert torch.allclose(layer(x), F.conv2d(x, layer.weight, layer.bias), atol=1e-6)
    masked = MaskedConv2d(6, 6, 1, "A", data_channels=3)  # the 1x1 path keeps the colour-group mask
    assert torch.allclose(
        masked(torch.ones(1, 6, 2, 2)),
        F.conv2d(torch.ones(1, 6, 2, 2), masked.weight * masked.mask, masked.bias),
        atol=1e-6,
    )
