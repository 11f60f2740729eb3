"""Each causal convolution's step state gives what its full forward pass gives, one position (or one row) at a
time in raster order: the building blocks of per-position generation."""

import pytest
import torch

from chainrule.nn.attention import CausalImageAttention
from chainrule.nn.masked_conv import MaskedConv2d
from chainrule.nn.raster_step import Pointwise, signed
from chainrule.nn.shifted_conv import (
    DownRightShiftedConv2d,
    DownRightShiftedDeconv2d,
    DownShiftedConv2d,
    DownShiftedDeconv2d,
    HorizontalConv,
    VerticalConv,
)

H, W = 5, 6


def image(channels: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(2, channels, H, W, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "conv",
    [
        MaskedConv2d(4, 6, 5, "A", 2),
        MaskedConv2d(4, 6, (3, 5), "B", 2),
        HorizontalConv(4, 8, 5, "B", 2),
        DownRightShiftedConv2d(4, 6, (2, 2)),
        DownRightShiftedConv2d(4, 6, (2, 1)),
    ],
    ids=["masked-A-5x5", "masked-B-3x5", "horizontal", "down-right-2x2", "down-right-2x1"],
)
def test_position_steps_equal_the_forward_pass(conv):
    x = image(4)
    with torch.no_grad():
        full = conv(x)
        state = conv.init_step(2, H, W)
        for i in range(H):
            conv.begin_row(state, i)
            for j in range(W):
                out = conv.step(state, j, x[:, :, i, j])
                torch.testing.assert_close(out, full[:, :, i, j], rtol=1e-5, atol=1e-5)


def test_a_layer_that_reads_the_data_sees_values_completed_after_their_step():
    conv, x = MaskedConv2d(1, 3, 5, "A", 1), image(1)
    with torch.no_grad():
        full, state = conv(x), conv.init_step(2, H, W)
        so_far = torch.zeros_like(x)
        for i in range(H):
            conv.begin_row(state, i, finished=so_far[:, :, i - 1] if i else None)
            for j in range(W):
                out = conv.step_on_row(state, j, so_far[:, :, i])
                torch.testing.assert_close(out, full[:, :, i, j], rtol=1e-5, atol=1e-5)
                so_far[:, :, i, j] = x[:, :, i, j]  # the value arrives after the step that predicts it


@pytest.mark.parametrize("conv", [VerticalConv(4, 6, 3), DownShiftedConv2d(4, 6, (2, 3))], ids=["vertical", "down"])
def test_row_steps_equal_the_forward_pass(conv):
    x = image(4)
    with torch.no_grad():
        full, state = conv(x), conv.init_rows(2, H, W)
        for i in range(H):
            torch.testing.assert_close(
                conv.row_step(state, i, x[:, :, i].transpose(1, 2)), full[:, :, i].transpose(1, 2)
            )


def test_strided_steps_give_the_coarse_grid():
    x = image(4)
    rows, positions = DownShiftedConv2d(4, 6, (2, 3), stride=2), DownRightShiftedConv2d(4, 6, (2, 2), stride=2)
    with torch.no_grad():
        coarse_rows, coarse_positions = rows(x), positions(x)
        row_state, position_state = rows.init_rows(2, H, W), positions.init_step(2, H, W)
        for i in range(H):
            rows.row_write(row_state, i, x[:, :, i].transpose(1, 2))
            if i % 2 == 0:
                torch.testing.assert_close(rows.row_out(row_state, i), coarse_rows[:, :, i // 2].transpose(1, 2))
            positions.begin_row(position_state, i)
            for j in range(W):
                if i % 2 == 0 and j % 2 == 0:
                    out = positions.step(position_state, j, x[:, :, i, j])
                    torch.testing.assert_close(out, coarse_positions[:, :, i // 2, j // 2], rtol=1e-5, atol=1e-5)
                else:
                    positions.put(position_state, j, x[:, :, i, j])


def test_transposed_steps_give_the_fine_grid():
    coarse = torch.randn(2, 4, 3, 3, generator=torch.Generator().manual_seed(1))
    rows, positions = DownShiftedDeconv2d(4, 6, (2, 3)), DownRightShiftedDeconv2d(4, 6)
    with torch.no_grad():
        fine_rows, fine_positions = rows(coarse, (H, W)), positions(coarse, (H, W))
        taps = positions.taps()
        for r in range(H):
            torch.testing.assert_close(
                rows.row(coarse[:, :, r // 2].transpose(1, 2), r, W), fine_rows[:, :, r].transpose(1, 2)
            )
            for c in range(W):
                out = taps[r % 2][c % 2](coarse[:, :, r // 2, c // 2])
                torch.testing.assert_close(out, fine_positions[:, :, r, c], rtol=1e-5, atol=1e-5)


def test_a_signed_step_emits_the_output_and_its_negation():
    conv, x = DownRightShiftedConv2d(4, 3, (2, 2)), image(4)
    with torch.no_grad():
        full = conv(x)
        state = signed(conv.init_step(2, H, W))
        conv.begin_row(state, 0)
        out = conv.step(state, 0, x[:, :, 0, 0])
        torch.testing.assert_close(out, torch.cat([full[:, :, 0, 0], -full[:, :, 0, 0]], 1), rtol=1e-5, atol=1e-5)
        point = Pointwise(torch.randn(4, 3), torch.randn(3))
        torch.testing.assert_close(
            signed(point)(x[:, :, 0, 0]), torch.cat([point(x[:, :, 0, 0]), -point(x[:, :, 0, 0])], 1)
        )


def test_attention_steps_read_every_earlier_position_only():
    attention = CausalImageAttention(5, 7, 4, 6, heads=2)
    with torch.no_grad():
        for p in attention.parameters():
            p.normal_(generator=torch.Generator().manual_seed(2))
        queries, source = image(5, 3), image(7, 4)
        full = attention(queries, source).flatten(2)  # (2, 6, H·W)
        state = attention.init_step(2, H * W)
        for t in range(H * W):
            i, j = divmod(t, W)
            if t:
                pi, pj = divmod(t - 1, W)
                attention.append(state, source[:, :, pi, pj])
            torch.testing.assert_close(attention.step(state, queries[:, :, i, j]), full[:, :, t], rtol=1e-5, atol=1e-5)
