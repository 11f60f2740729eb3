import pytest
import torch

from chainrule.nn.masked_conv import MaskedConv2d, channel_groups, conv_mask
from chainrule.nn.shifted_conv import HorizontalConv, VerticalConv, down_shift


def test_channel_groups_blocks_and_chunks():
    assert channel_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    assert channel_groups(6, 3, chunks=2).tolist() == [0, 1, 2, 0, 1, 2]
    assert channel_groups(4, 1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        channel_groups(5, 3)


def test_exact_masks_grey_type_a_and_b():
    one = torch.zeros(1, dtype=torch.long)
    a = conv_mask((3, 3), one, one, "A")[0, 0]
    b = conv_mask((3, 3), one, one, "B")[0, 0]
    assert a.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert b.tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]


def test_exact_centre_masks_rgb():
    groups = torch.arange(3)
    a = conv_mask((1, 1), groups, groups, "A")[:, :, 0, 0]
    b = conv_mask((1, 1), groups, groups, "B")[:, :, 0, 0]
    assert a.tolist() == [[0, 0, 0], [1, 0, 0], [1, 1, 0]]  # R sees nothing, G sees R, B sees R and G
    assert b.tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]


def receptive(layer_stack, shape, out_index):
    """Input positions (c, i, j) with a non-zero gradient for one output entry."""
    x = torch.randn(1, *shape, requires_grad=True)
    y = layer_stack(x)
    (grad,) = torch.autograd.grad(y[(0, *out_index)], x)
    return {tuple(p) for p in (grad[0] != 0).nonzero().tolist()}


def before(c, i, j, width, colours):
    """Raster order with colours inside a pixel: is (c, i, j) earlier than the given position?"""
    return lambda p: (p[1] * width + p[2]) * colours + p[0] < (i * width + j) * colours + c


def test_stack_of_masked_convs_is_causal_in_raster_rgb_order():
    torch.manual_seed(0)
    stack = torch.nn.Sequential(
        MaskedConv2d(3, 6, 3, "A", 3),
        torch.nn.ReLU(),
        MaskedConv2d(6, 6, 3, "B", 3),
        torch.nn.ReLU(),
        MaskedConv2d(6, 3, 1, "B", 3),
    )
    for c, i, j in [(0, 2, 2), (1, 2, 2), (2, 3, 1), (0, 0, 0)]:
        seen = receptive(stack, (3, 5, 5), (c, i, j))
        assert all(before(c, i, j, 5, 3)(p) for p in seen)
        if (c, i, j) != (0, 0, 0):
            assert seen  # depends on something: the test can fail


def test_shifted_stacks_see_rows_above_and_the_left_of_the_row():
    torch.manual_seed(0)
    v, h = VerticalConv(1, 2, 3), HorizontalConv(1, 2, 3, "A", 1)
    seen_v = receptive(lambda x: down_shift(v(x)), (1, 5, 5), (0, 2, 2))
    assert seen_v == {(0, i, j) for i in (0, 1) for j in (1, 2, 3)}
    seen_h = receptive(h, (1, 5, 5), (0, 2, 2))
    assert seen_h == {(0, 2, 1)}
