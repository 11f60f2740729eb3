"""Lossless compression with a model's conditionals: range coding (constriction's queue coder) of every dimension
with the integer tables of `coding.tables`, in the model's order.

Encoder and decoder run the same step loop (`sampling.walk_conditionals`, the generation cache where the model has
one): the encoder feeds the data's values back, the decoder the values it has just decoded, so both compute the same
conditionals. Two layouts:
- array: x long (N, *shape), examples coded in blocks of `block` rows in parallel;
- stream: a sequence model's 1-D token sequence of any length, cut into segments of `block` tokens that are coded
  side by side as rows (each segment starts with empty context; the first tokens of a segment cost a little more).
"""

from __future__ import annotations

import contextlib
import math
from functools import partial

import constriction
import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from chainrule import orders
from chainrule.coding import container
from chainrule.coding.container import Header
from chainrule.coding.tables import coder_probabilities, frequency_tables
from chainrule.data.condition import Condition
from chainrule.errors import CompressedFileError, InputError
from chainrule.orders import Ordering
from chainrule.sampling import walk_conditionals

ARRAY_BLOCK = container.ARRAY_BLOCK  # examples coded side by side
STREAM_SEGMENT = 16384  # tokens per segment of a stream
MAX_ROWS = 256
ORDER = "order"  # the key of an any-order model's generation order in the header's extra


def order_fact(model, order: str | Tensor | None) -> str | list[int] | None:
    """The order an any-order model codes in, as the header records it: a name, or the permutation of the pixels
    (None for a model of one order).

    Raises:
        InputError: an order for a model of one order, or an order that is not one."""
    if model.ordering is not Ordering.ANY:
        if order is not None:
            raise InputError(f"this {model.registry_name} model codes in its one order; only lmconv takes an order")
        return None
    if order is None:
        return model.trained_orders[0]
    _, height, width = model.shape
    checked = orders.resolve(order, height, width)
    return order if isinstance(order, str) else checked.tolist()


def coding_order(model, header: Header):
    """The `ordered` block the decoder walks in: the order the file records (a model of one order: none).

    Raises:
        CompressedFileError: an order recorded for a model of one order, missing for an any-order one, or invalid."""
    recorded = header.extra.get(ORDER) if isinstance(header.extra, dict) else None
    if model.ordering is not Ordering.ANY:
        if recorded is not None:
            raise CompressedFileError("the compressed file records a generation order; this model has one order")
        return contextlib.nullcontext()
    if not isinstance(recorded, str | list) or (
        isinstance(recorded, list) and not all(type(i) is int for i in recorded)
    ):
        raise CompressedFileError("the compressed file records no valid generation order for this any-order model")
    _, height, width = model.shape
    try:
        order = orders.resolve(recorded if isinstance(recorded, str) else torch.tensor(recorded), height, width)
    except InputError as error:
        raise CompressedFileError(f"the compressed file's generation order is invalid: {error}") from None
    return model.ordered(order)


def is_stream_model(model) -> bool:
    """Sequence models (text, audio) code 1-D sequences of any length."""
    from chainrule.models.sequence import SequenceModel

    return isinstance(model, SequenceModel)


def _layout(model, x: Tensor) -> str:
    if not isinstance(x, Tensor) or x.dtype.is_floating_point or x.dtype == torch.bool:
        raise InputError("data to compress must be an integer tensor")
    if x.dim() == 1 and is_stream_model(model):
        return "stream"
    if tuple(x.shape[1:]) == model.shape:
        return "array"
    expected = "(N, " + ", ".join(map(str, model.shape)) + ")" + (" or (L,)" if is_stream_model(model) else "")
    raise InputError(f"data of shape {tuple(x.shape)} does not fit this model; it takes {expected}")


def _blocks(layout: str, count: int, block: int) -> list[tuple[int, int, int]]:
    """(first row, rows, steps) of each block of work, for `count` examples (array) or tokens (stream)."""
    if layout == "array":
        return [(start, min(block, count - start), 0) for start in range(0, count, block)]
    segments = math.ceil(count / block)
    return [
        (start, min(MAX_ROWS, segments - start), min(block, count - start * block))
        for start in range(0, segments, MAX_ROWS)
    ]


def _rows(layout: str, model, flat: np.ndarray, first: int, rows: int, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Values of a block in step order, int64 (rows, steps), and each row's length (rows,)."""
    if layout == "array":
        values = flat[first : first + rows][:, model.order.numpy()]
        return values, np.full(rows, values.shape[1])
    start = first * block
    part = flat[start : start + rows * block]
    lengths = np.minimum(block, len(part) - block * np.arange(rows))
    values = np.zeros(rows * block, dtype=np.int64)
    values[: len(part)] = part
    return np.ascontiguousarray(values.reshape(rows, block)[:, : int(lengths.max())]), lengths


def _run_block(model, values: np.ndarray, lengths: np.ndarray, code, bar, cond=None) -> None:
    """Walk the conditionals over one block (given the block's condition `cond`, if any); `code(log_probs, rows, t)`
    codes (or decodes into `values`) step t."""
    device = next(model.parameters()).device
    n, steps = values.shape
    full = bool((lengths == steps).all())

    def choose(t: int, log_probs: Tensor) -> Tensor:
        rows = None if full else np.flatnonzero(lengths > t)
        code(log_probs if rows is None else log_probs[torch.from_numpy(rows).to(log_probs.device)], rows, t)
        bar.update(1)
        return torch.from_numpy(values[:, t]).to(device)

    walk_conditionals(model, n, choose, steps=steps, cond=cond)


def compress(
    model,
    x: Tensor,
    extra: dict | None = None,
    original_size: int | None = None,
    block: int | None = None,
    progress: bool = False,
    stats: dict | None = None,
    order: str | Tensor | None = None,
    cond: Tensor | Condition | None = None,
) -> bytes:
    """Compress x losslessly with the model: x long (N, *shape), or (L,) for a sequence model.

    Args:
        extra: JSON-able facts stored in the header (how the CLI writes the data back as a file).
        original_size: size of the input in bytes, recorded in the header (default: one byte per value, two when
            the model has more than 256 levels).
        block: examples per block (array) or tokens per segment (stream); default 1024 / 16384.
        progress: show a progress bar.
        stats: if given, receives "model_bits": −log2 p(x) under the conditionals the coder used (before the
            tables' rounding), the ideal size the file is compared with.
        order: an any-order model's generation order (a name of `chainrule.orders` or a permutation of the pixels;
            default: its first trained order), recorded in the header for the decoder.
        cond: a conditional model's condition, one per example (array layout; not stored: the decoder is given
            the same).

    Raises:
        InputError: data of the wrong shape or level range, or a condition that is not one per example.
    """
    layout = _layout(model, x)
    cond = _check_condition(layout, cond, int(x.shape[0]))
    if layout == "array":
        x = model.check_input(x, cond)
    elif x.numel() and (int(x.min()) < 0 or int(x.max()) >= model.levels):
        raise InputError(f"tokens must lie in 0..{model.levels - 1}")
    else:
        x = x.long()
    block = block or (ARRAY_BLOCK if layout == "array" else STREAM_SEGMENT)
    walked = order_fact(model, order)
    extra = dict(extra or {}) if walked is None else {**(extra or {}), ORDER: walked}
    flat = x.detach().cpu().reshape(x.shape[0], model.dims).numpy() if layout == "array" else x.detach().cpu().numpy()
    device, dtype = container.device_of(model)
    default_size = x.numel() * (1 if model.levels <= 256 else 2)
    header = Header(
        layout=layout,
        device=device,
        dtype=dtype,
        fingerprint=container.fingerprint(model),
        count=int(x.shape[0]),
        checksum=container.data_checksum(flat),
        threads=torch.get_num_threads(),
        build=container.build_tag(model),
        segment=block,
        original_size=None if original_size in (None, default_size) else original_size,
        extra=extra or {},
    )
    encoder = constriction.stream.queue.RangeEncoder()
    family = constriction.stream.model.Categorical(perfect=False)
    if stats is not None:
        stats["model_bits"] = 0.0

    def code(values: np.ndarray, log_probs: Tensor, active: np.ndarray | None, t: int) -> None:
        symbols = values[:, t] if active is None else values[active, t]
        encoder.encode(symbols.astype(np.int32), family, coder_probabilities(frequency_tables(log_probs)))
        if stats is not None:
            chosen = log_probs.gather(1, torch.from_numpy(symbols).to(log_probs.device)[:, None])
            stats["model_bits"] -= float(chosen.double().sum()) / math.log(2)

    with (
        container.coding_threads(header.threads),
        model.ordered(walked if isinstance(walked, str) else torch.tensor(walked))
        if walked is not None
        else contextlib.nullcontext(),
    ):
        _code_blocks(model, layout, flat, block, code, "compress", progress, write_back=False, cond=cond)
    payload = encoder.get_compressed().astype("<u4").tobytes()
    return container.pack(header, payload)


def _check_condition(layout: str, cond, count: int) -> Condition | None:
    """`cond` as a Condition of `count` examples (None stays None).

    Raises:
        InputError: a condition for a stream, or not one per example."""
    cond = Condition.of(cond)
    if cond is None:
        return None
    if layout != "array" or len(cond) != count:
        raise InputError(f"the condition must give one per example ({count}); it gives {len(cond)}")
    return cond


def _code_blocks(
    model, layout: str, flat: np.ndarray, block: int, code, desc: str, progress: bool, write_back: bool, cond=None
):
    """Walk every block of the data in eval mode; `code(values, log_probs, active, t)` codes step t of a block (or
    decodes it into `values`); with `write_back`, each finished block is stored back into `flat`. `cond`: one
    condition per example (array layout)."""
    work = _blocks(layout, len(flat), block)
    total = sum(steps if layout == "stream" else model.dims for _, _, steps in work)
    was_training = model.training
    model.train(False)
    try:
        with tqdm(total=total, disable=not progress, unit="step", desc=desc) as bar:
            for first, rows, _ in work:
                values, lengths = _rows(layout, model, flat, first, rows, block)
                part = None if cond is None else cond[first : first + rows]
                _run_block(model, values, lengths, partial(code, values), bar, part)
                if write_back:
                    _store(layout, model, flat, values, lengths, first, block)
    finally:
        model.train(was_training)


def decompress(model, blob: bytes, progress: bool = False, cond: Tensor | Condition | None = None) -> Tensor:
    """The data `compress` was given, bit-exact: long (N, *shape) or (L,); `cond`: the condition it was given.

    Raises:
        CompressedFileError: not a chainrule file, corrupt or truncated, another model / device type / dtype, or a
            decoded result that fails the stored checksum.
    """
    header, payload = container.unpack(blob)
    container.check_model(header, model, len(payload))
    layout, block = header.layout, header.segment
    if len(payload) % 4:
        raise CompressedFileError("the compressed file's payload is corrupt (not whole 32-bit words)")
    count = header.count
    cond = _check_condition(layout, cond, count)
    flat = np.zeros((count, model.dims) if layout == "array" else count, dtype=np.int64)
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    decoder = constriction.stream.queue.RangeDecoder(words)
    family = constriction.stream.model.Categorical(perfect=False)

    def code(values: np.ndarray, log_probs: Tensor, active: np.ndarray | None, t: int) -> None:
        try:
            symbols = decoder.decode(family, coder_probabilities(frequency_tables(log_probs)))
        except Exception as err:  # constriction reports garbage input as assorted exceptions
            raise CompressedFileError(f"the coder could not decode the payload ({err})") from None
        values[slice(None) if active is None else active, t] = symbols

    try:
        with container.coding_threads(header.threads), coding_order(model, header):
            _code_blocks(model, layout, flat, block, code, "decompress", progress, write_back=True, cond=cond)
    except CompressedFileError as err:
        raise CompressedFileError(f"{err}; {_what_must_match(header, model)}") from None
    if container.data_checksum(flat) != header.checksum:
        raise CompressedFileError(f"the decoded data fails the file's checksum; {_what_must_match(header, model)}")
    return torch.from_numpy(flat).reshape((count, *model.shape) if layout == "array" else (count,))


def _what_must_match(header: Header, model) -> str:
    return (
        "the file's CRC held, so either its payload was altered and the CRC recomputed, or this machine computes the "
        f"model's conditionals differently from the one that compressed it ({container.build_description(model)}, "
        f"{header.threads} coding threads): with an unaltered file, decode with the same PyTorch build on the same "
        "kind of CPU"
    )


def _store(layout: str, model, flat: np.ndarray, values: np.ndarray, lengths: np.ndarray, first: int, block: int):
    """Write a decoded block (rows in step order) back into the flat data."""
    if layout == "array":
        flat[first : first + len(values), model.order.numpy()] = values
        return
    start = first * block
    for row, length in enumerate(lengths.tolist()):
        flat[start + row * block : start + row * block + length] = values[row, :length]
