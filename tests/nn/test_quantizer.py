"""The codebook: straight-through gradients, the moving-average update checked by hand, dead-code restarts."""

from __future__ import annotations

import pytest
import torch

from chainrule.nn.quantizer import VectorQuantizer, perplexity


def book(vectors, counts, decay=0.5, dead_below=0.0) -> VectorQuantizer:
    q = VectorQuantizer(len(vectors), len(vectors[0]), decay=decay, dead_below=dead_below)
    with torch.no_grad():
        q.codebook.copy_(torch.tensor(vectors, dtype=torch.float))
        q.counts.copy_(torch.tensor(counts, dtype=torch.float))
        q.sums.copy_(q.codebook * q.counts[:, None])
    return q


def as_map(values) -> torch.Tensor:
    """Rows of D values → a (1, D, 1, N) map (N positions in one row)."""
    return torch.tensor(values, dtype=torch.float).t()[None, :, None, :]


def test_the_nearest_code_is_chosen_and_gradients_pass_straight_through():
    q = book([[0.0, 0.0], [10.0, 10.0]], [1, 1]).train()
    z = as_map([[1.0, 2.0], [8.0, 9.0], [4.0, 4.0]]).requires_grad_()
    out = q(z)
    assert out.codes.flatten().tolist() == [0, 1, 0]
    assert torch.equal(out.straight.detach(), as_map([[0.0, 0.0], [10.0, 10.0], [0.0, 0.0]]))
    weights = torch.randn_like(z)
    (out.straight * weights).sum().backward()
    assert torch.equal(z.grad, weights)  # d(loss)/dz = d(loss)/d(quantized)
    # commitment: mean squared distance to the chosen codes, ((1 + 4) + (4 + 1) + (16 + 16)) / 6
    assert float(out.commitment.detach()) == pytest.approx(42 / 6)


def test_the_moving_average_update_by_hand():
    q = book([[0.0], [10.0]], [1, 1], decay=0.5).train()
    q(as_map([[1.0], [2.0], [9.0]]))  # codes 0, 0, 1: n = (2, 1), sums (3, 9)
    assert torch.equal(q.codebook, torch.tensor([[0.0], [10.0]]))  # nothing changes before the update
    q.update()
    # N = 0.5 (1, 1) + 0.5 (2, 1) = (1.5, 1); m = 0.5 (0, 10) + 0.5 (3, 9) = (1.5, 9.5); e = m / N
    torch.testing.assert_close(q.counts, torch.tensor([1.5, 1.0]))
    torch.testing.assert_close(q.sums, torch.tensor([[1.5], [9.5]]))
    torch.testing.assert_close(q.codebook, torch.tensor([[1.0], [9.5]]), atol=1e-4, rtol=0)
    before = q.codebook.clone()
    q.update()  # the batch's sums are applied once
    assert torch.equal(q.codebook, before)


def test_evaluation_leaves_the_codebook_alone():
    q = book([[0.0], [10.0]], [1, 1]).eval()
    q(as_map([[1.0], [9.0]]))
    q.update()
    assert torch.equal(q.codebook, torch.tensor([[0.0], [10.0]])) and torch.equal(q.counts, torch.ones(2))


def test_a_dead_code_restarts_at_an_encoder_vector():
    torch.manual_seed(0)
    q = book([[0.0, 0.0], [10.0, 10.0], [100.0, 100.0]], [4, 4, 0.1], decay=0.9, dead_below=0.5).train()
    batch = [[1.0, 1.0], [9.0, 9.0], [2.0, 1.0], [11.0, 10.0]]
    q(as_map(batch))
    assert q.dead_codes() == 1
    q.update()  # code 2: 0.9 · 0.1 + 0 < 0.5: dead, moved onto one of the batch's vectors
    assert q.codebook[2].tolist() in batch
    assert float(q.counts[2]) == 0.5 and q.dead_codes() == 0
    assert q.codebook[0].tolist() != [100.0, 100.0]


def test_the_first_update_initialises_every_code_from_data():
    torch.manual_seed(1)
    q = VectorQuantizer(8, 3).train()  # counts start at 0: every code is dead
    z = torch.randn(2, 3, 4, 4) + 5.0
    q(z)
    q.update()
    vectors = z.permute(0, 2, 3, 1).reshape(-1, 3)
    for code in q.codebook:
        assert (vectors - code).abs().sum(1).min() < 1e-6


def test_perplexity():
    assert perplexity(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity(torch.tensor([0, 9, 0])) == pytest.approx(1.0)
