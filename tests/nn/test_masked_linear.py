import torch

from chainrule.nn.masked_linear import MaskedLinear, hidden_degrees, hidden_mask, output_mask


def test_masks_match_the_degree_rule_exactly():
    inputs = torch.tensor([1, 2, 3])
    hidden = torch.tensor([1, 2, 2, 1])
    assert hidden_mask(hidden, inputs).tolist() == [[1, 0, 0], [1, 1, 0], [1, 1, 0], [1, 0, 0]]
    assert output_mask(inputs, hidden).tolist() == [[0, 0, 0, 0], [1, 0, 0, 1], [1, 1, 1, 1]]


def test_hidden_degrees_are_in_range_and_seeded():
    a = hidden_degrees(10, (50, 40), torch.Generator().manual_seed(3))
    b = hidden_degrees(10, (50, 40), torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert int(a[0].min()) >= 1 and int(a[0].max()) <= 9
    assert int(a[1].min()) >= int(a[0].min())


def test_masked_stack_is_causal_by_gradient():
    torch.manual_seed(0)
    D = 6
    order_degrees = torch.tensor([3, 1, 6, 2, 5, 4])  # input d has degree rank(d)+1
    h = hidden_degrees(D, (32, 32), torch.Generator().manual_seed(1))
    l1, l2, out = MaskedLinear(D, 32), MaskedLinear(32, 32), MaskedLinear(32, D)
    x = torch.randn(1, D, requires_grad=True)
    y = out(
        torch.relu(l2(torch.relu(l1(x, hidden_mask(h[0], order_degrees))), hidden_mask(h[1], h[0]))),
        output_mask(order_degrees, h[1]),
    )
    for d in range(D):
        (grad,) = torch.autograd.grad(y[0, d], x, retain_graph=True)
        seen = (grad[0] != 0).nonzero().flatten().tolist()
        assert all(order_degrees[s] < order_degrees[d] for s in seen)


def test_mask_does_not_change_the_weight():
    layer = MaskedLinear(3, 2)
    before = layer.weight.detach().clone()
    layer(torch.randn(4, 3), torch.zeros(2, 3))
    assert torch.equal(layer.weight, before)
