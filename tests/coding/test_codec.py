"""Arithmetic coding with the models: bit-exact round trips, size against −log2 p(x), and refusing bad files."""

from __future__ import annotations

import binascii
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.coding import container
from chainrule.coding.tables import frequency_tables, table_bits
from chainrule.errors import CompressedFileError, InputError
from tests.conformance.test_contract import NAMES, cases, family, grid, tiny


def data(model, n: int, seed: int = 0) -> torch.Tensor:
    """Samples of the model (so that the size check compares against a likely x), long (n, *shape)."""
    with torch.no_grad():
        return model.sample(n, generator=torch.Generator().manual_seed(seed)).clone()


@pytest.mark.parametrize("name,shape,levels", cases([((1, 3, 4), 2), ((3, 2, 3), 4), ((7,), 5), ((2, 1, 2, 3), 3)]))
def test_round_trip_is_bit_exact_for_every_family(name, shape, levels):
    model = tiny(name, shape, levels)
    x = torch.cat([data(model, 5), torch.randint(0, levels, (4, *shape))])  # likely and arbitrary data
    blob = cr.coding.compress(model, x, block=3)  # blocks of 3, the last one short
    y = cr.coding.decompress(model, blob)
    assert y.dtype == torch.long and torch.equal(y, x)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("n", [0, 1])
def test_empty_and_one_element_inputs(name, n):
    shape = grid(name, 2, 2) if cr.models.MODELS.get(family(name)).kind != "sequence" else (5,)
    model = tiny(name, shape, 3)
    x = torch.randint(0, 3, (n, *shape))
    assert torch.equal(cr.coding.decompress(model, cr.coding.compress(model, x)), x)


@pytest.mark.parametrize("name", [n for n in NAMES if cr.models.MODELS.get(family(n)).kind == "sequence"])
@pytest.mark.parametrize("length", [0, 1, 2, 23])
def test_streams_of_any_length_round_trip(name, length):
    model = tiny(name, (6,), 4)
    x = torch.randint(0, 4, (length,), generator=torch.Generator().manual_seed(length))
    blob = cr.coding.compress(model, x, block=5)  # longer than the model's training length, several segments
    y = cr.coding.decompress(model, blob)
    assert y.shape == (length,) and torch.equal(y, x)


@pytest.mark.parametrize("name,shape,levels", cases([((1, 4, 4), 4), ((16,), 6), ((2, 1, 3, 3), 4)]))
def test_compressed_size_is_the_model_nll(name, shape, levels):
    model = tiny(name, shape, levels)
    x = data(model, 32)
    with torch.no_grad():
        nll_bits = -float(model.log_prob(x).double().sum()) / math.log(2)
    blob = cr.coding.compress(model, x)
    header, payload = container.unpack(blob)
    assert 8 * len(payload) <= 1.01 * nll_bits + 8 * 64
    assert 8 * len(payload) >= 0.99 * nll_bits - 64  # the coder cannot beat the model
    assert len(blob) - len(payload) <= 96  # header + CRC


def test_tables_are_deterministic_cover_every_symbol_and_cost_what_the_model_says():
    g = torch.Generator().manual_seed(0)
    lp = torch.log_softmax(6 * torch.randn(50, 256, generator=g), dim=-1)
    lp[0, 3] = float("-inf")  # impossible under the model: still codable
    freq = frequency_tables(lp)
    assert (freq >= 1).all() and (freq.sum(1) == 1 << 24).all()
    assert np.array_equal(freq, frequency_tables(lp.clone()))
    symbols = torch.multinomial(lp[1:].exp(), 1, generator=g)[:, 0].numpy()
    model_bits = -float(lp[1:].gather(1, torch.from_numpy(symbols)[:, None]).sum()) / math.log(2)
    assert table_bits(freq[1:], symbols) == pytest.approx(model_bits, rel=1e-3)
    with pytest.raises(InputError):
        frequency_tables(torch.full((1, 4), float("nan")))


@pytest.fixture(scope="module")
def coded():
    model = tiny("pixelcnn", (1, 3, 3), 4)
    x = data(model, 6)
    return model, x, cr.coding.compress(model, x)


def test_a_flipped_byte_a_truncation_and_garbage_are_detected(coded):
    model, _, blob = coded
    for i in range(len(blob)):
        flipped = bytearray(blob)
        flipped[i] ^= 0x10
        with pytest.raises(CompressedFileError):
            cr.coding.decompress(model, bytes(flipped))
    for end in range(len(blob)):
        with pytest.raises(CompressedFileError):
            cr.coding.decompress(model, blob[:end])
    with pytest.raises(CompressedFileError, match="bad magic"):
        cr.coding.decompress(model, b"\x89PNG\r\n\x1a\n" + bytes(40))


def test_the_wrong_model_or_dtype_is_refused(coded):
    model, _, blob = coded
    other = tiny("pixelcnn", (1, 3, 3), 4)
    with torch.no_grad():
        next(other.parameters()).add_(1e-3)
    with pytest.raises(CompressedFileError, match="another model"):
        cr.coding.decompress(other, blob)
    with pytest.raises(CompressedFileError, match="another model"):
        cr.coding.decompress(tiny("gated-pixelcnn", (1, 3, 3), 4), blob)
    wider = tiny("pixelcnn", (1, 3, 3), 4).double()
    with pytest.raises(CompressedFileError, match="float64"):
        cr.coding.decompress(wider, blob)


def test_data_that_does_not_fit_the_model_is_refused():
    model = tiny("pixelcnn", (1, 3, 3), 4)
    with pytest.raises(InputError):
        cr.coding.compress(model, torch.zeros(2, 1, 3, 4, dtype=torch.long))
    with pytest.raises(InputError):
        cr.coding.compress(model, torch.full((2, 1, 3, 3), 4))
    with pytest.raises(InputError):
        cr.coding.compress(model, torch.zeros(2, 1, 3, 3))


def with_valid_crc(body: bytes) -> bytes:
    return body + binascii.crc_hqx(body, 0).to_bytes(2, "little")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=200), cut=st.integers(0, 10_000))
def test_garbage_never_decodes_hangs_or_allocates(coded, garbage, cut):
    model, x, blob = coded
    header_end = len(blob) - 2 - len(container.unpack(blob)[1])
    candidates = [
        garbage,  # anything
        blob[:4] + garbage,  # our magic, then anything
        with_valid_crc(blob[:4] + garbage),  # a CRC that passes, then a nonsense header
        with_valid_crc(blob[:header_end] + garbage),  # a good header over a garbage payload
        with_valid_crc(blob[: min(cut, len(blob) - 2)]),  # a truncation that keeps a valid CRC
    ]
    for candidate in candidates:
        try:
            y = cr.coding.decompress(model, candidate)
        except CompressedFileError:
            continue
        assert torch.equal(y, x)  # only the real data may come back


def test_header_dims_cannot_ask_for_unbounded_memory(coded):
    model, _, blob = coded
    header, payload = container.unpack(blob)
    header.count = 1 << 31
    with pytest.raises(CompressedFileError, match="invalid"):
        cr.coding.decompress(model, container.pack(header, payload))
