import math

import torch

from chainrule.nn.transformer_block import rotary_tables, rotate


def test_rotary_embedding_rotates_each_pair_so_scores_depend_on_the_offset_only():
    d = 8
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(d, generator=g), torch.randn(d, generator=g)
    cos, sin = rotary_tables(torch.arange(12), d)

    def at(x, position):
        return rotate(x[None], cos[position : position + 1], sin[position : position + 1])[0]

    for i, j in [(0, 3), (4, 7), (8, 11)]:  # the same offset 3 at three places
        assert math.isclose(float(at(q, i) @ at(k, j)), float(at(q, 0) @ at(k, 3)), abs_tol=1e-5)
    assert not math.isclose(float(at(q, 0) @ at(k, 3)), float(at(q, 0) @ at(k, 5)), abs_tol=1e-3)
    assert torch.allclose(at(q, 5).norm(), q.norm())  # a rotation keeps lengths
    # pair m = (x[m], x[m + d/2]) turns by position x base^(-2m/d): check the first pair at position 1 by hand
    a, b = float(q[0]), float(q[d // 2])
    assert math.isclose(float(at(q, 1)[0]), a * math.cos(1) - b * math.sin(1), abs_tol=1e-6)
    assert math.isclose(float(at(q, 1)[d // 2]), b * math.cos(1) + a * math.sin(1), abs_tol=1e-6)
    assert torch.equal(at(q, 0), q)  # position 0 is the identity
