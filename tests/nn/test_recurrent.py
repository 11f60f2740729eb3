import torch

from chainrule.nn.recurrent import DiagonalBiLSTM, RowLSTM
from chainrule.nn.skew import skew, unskew


def test_skew_shifts_row_i_by_i_and_unskew_inverts():
    x = torch.arange(1, 13.0).reshape(1, 1, 3, 4)
    s = skew(x)
    assert s.shape == (1, 1, 3, 6)
    assert s[0, 0].tolist() == [[1, 2, 3, 4, 0, 0], [0, 5, 6, 7, 8, 0], [0, 0, 9, 10, 11, 12]]
    assert torch.equal(unskew(s, 4), x)


def seen(layer, at, shape=(1, 2, 5, 5)):
    x = torch.randn(*shape, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(x)[(0, slice(None), *at)].sum(), x)
    return {tuple(p[1:]) for p in (grad[0].abs().sum(0, keepdim=True) != 0).nonzero().tolist()}


def test_row_lstm_sees_only_earlier_pixels():
    torch.manual_seed(0)
    layer = RowLSTM(2, 4, 3, colours=1)
    got = seen(layer, (2, 2))
    assert got and all(i < 2 or (i == 2 and j <= 2) for i, j in got)
    assert (1, 3) in got and (2, 3) not in got


def test_diagonal_bilstm_sees_the_whole_context_and_nothing_later():
    torch.manual_seed(0)
    layer = DiagonalBiLSTM(2, 4, colours=1)
    got = seen(layer, (2, 2))
    assert all(i < 2 or (i == 2 and j <= 2) for i, j in got)
    assert {(1, 4), (0, 4), (2, 0), (2, 2)} <= got  # above-right reached through the mirrored direction


def test_the_mirrored_direction_reads_the_pixels_of_finished_rows_only():
    torch.manual_seed(0)
    layer = DiagonalBiLSTM(2, 4, colours=1, pixels=1)
    stream = torch.randn(1, 2, 4, 5)
    pixels = torch.randn(1, 1, 4, 5, requires_grad=True)
    (grad,) = torch.autograd.grad(layer(stream, pixels)[0, :, 2, 0].sum(), pixels)
    got = {tuple(p) for p in (grad[0, 0] != 0).nonzero().tolist()}
    assert got == {(i, j) for i in range(2) for j in range(5)}  # all of rows 0 and 1, nothing of row 2 on
