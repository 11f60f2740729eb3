"""The compressed file format, version 3: a 16-byte header for one image, then the coder's payload.

    magic "cr" | version u8 | flags u8 | threads varint | build u8 | model fingerprint 3 B
    | [block varint: stream, or flag] | count varint | [original size varint: flag] | [extra: flag, varint length
    + JSON, how to write the data back as a file] | data checksum 4 B | payload (u32 words) | CRC-16 of all before

flags: bit 0 layout (array / stream), bits 1-2 device type, bits 3-4 parameter dtype, bit 5 original size present,
bit 6 extra present, bit 7 a block size other than the array layout's default (examples coded side by side, which
decoding must repeat). The data is (count, *model.shape) for the array layout and (count,) tokens for a stream; the
per-example shape, the levels and the coder's precision are the model's and the version's, pinned by the
fingerprint and the version byte.

What decoding needs to match encoding, and what this header pins down:
- the model: the fingerprint is a hash of its architecture (config.json) and every weight;
- the device type and the parameters' dtype;
- the floating-point kernels: the build byte hashes the PyTorch version with the CPU capability PyTorch dispatches
  to (`torch.backends.cpu.get_cpu_capability()`, or the CUDA device's name), and the coding passes run at the
  thread count recorded in `threads` (set for the passes and restored after), since a different count splits the
  reductions differently and changes the last bits of the conditionals.
A file made under other conditions is refused before decoding, with what differs. Where the conditionals still
differ for a reason the header cannot see, the data checksum (CRC-32 of the values) catches it after decoding; the
CRC-16 over the file tells a corrupt file from that case. Decoding never returns wrong data.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import json
import math
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chainrule.coding.tables import PRECISION
from chainrule.errors import CompressedFileError

MAGIC = b"cr"
VERSION = 3  # 3: the image families' conditionals come from per-position steps (their last bits differ from 2's)
OLD_MAGIC = b"CRAC"  # format 1, before the compact header
LAYOUTS = ("array", "stream")  # (N, *shape) examples, or one 1-D sequence of any length
DEVICES = ("cpu", "cuda", "mps")
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
MAX_SYMBOLS = 1 << 32  # decoding never allocates more than this many values, whatever the header says
MAX_THREADS = 1024
ARRAY_BLOCK = 1024  # the array layout's default block, left out of the header
FINGERPRINT_BYTES = 3


@dataclass
class Header:
    layout: str
    device: str
    dtype: torch.dtype
    fingerprint: bytes
    count: int
    checksum: bytes
    threads: int = 1
    build: int = 0
    segment: int = 0  # examples per block (array) or tokens per segment (stream)
    original_size: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def fingerprint(model) -> bytes:
    """3 bytes identifying a model: hash of its architecture document and all its weights (floating-point ones
    as float32, so that the same model cast to another dtype is recognised and refused with a precise message)."""
    digest = hashlib.sha256(json.dumps(model.describe(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu")
        tensor = (tensor.float() if tensor.is_floating_point() else tensor).contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.digest()[:FINGERPRINT_BYTES]


def data_checksum(values: np.ndarray) -> bytes:
    """4 bytes: CRC-32 of the values as little-endian int32."""
    return zlib.crc32(np.ascontiguousarray(values, dtype="<i4").tobytes()).to_bytes(4, "little")


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def device_of(model) -> tuple[str, torch.dtype]:
    """The device type and dtype the model's parameters live on."""
    p = next(model.parameters())
    return p.device.type, p.dtype


def build_description(model) -> str:
    """What the floating-point kernels the model runs on depend on: the PyTorch version and the CPU capability
    (or the accelerator's name)."""
    p = next(model.parameters())
    if p.device.type == "cuda":
        kind = torch.cuda.get_device_name(p.device)
    elif p.device.type == "cpu":
        kind = f"CPU capability {torch.backends.cpu.get_cpu_capability()}"
    else:
        kind = p.device.type
    return f"torch {torch.__version__}, {kind}"


def build_tag(model) -> int:
    """One byte hashing `build_description`."""
    return hashlib.sha256(build_description(model).encode()).digest()[0]


@contextlib.contextmanager
def coding_threads(threads: int) -> Iterator[None]:
    """Run the coding passes at `threads` intra-op threads, restoring the caller's count after."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


class _Reader:
    """Reads the header's fields in order; any overrun or oversized value is an invalid header."""

    def __init__(self, body: bytes, offset: int) -> None:
        self.body, self.offset = body, offset

    def take(self, n: int) -> bytes:
        if self.offset + n > len(self.body):
            raise CompressedFileError("the compressed file's header is invalid")
        part = self.body[self.offset : self.offset + n]
        self.offset += n
        return part

    def varint(self, limit: int = MAX_SYMBOLS) -> int:
        value = 0
        for shift in range(0, 70, 7):
            (byte,) = self.take(1)
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                if value > limit:
                    raise CompressedFileError("the compressed file's header is invalid")
                return value
        raise CompressedFileError("the compressed file's header is invalid")


def pack(header: Header, payload: bytes) -> bytes:
    """The whole file for a header and an entropy-coded payload."""
    extra = json.dumps(header.extra, sort_keys=True).encode() if header.extra else b""
    flags = (
        LAYOUTS.index(header.layout)
        | DEVICES.index(header.device) << 1
        | DTYPES.index(header.dtype) << 3
        | (header.original_size is not None) << 5
        | bool(extra) << 6
        | (header.layout == "array" and header.segment != ARRAY_BLOCK) << 7
    )
    head = MAGIC + bytes([VERSION, flags]) + _varint(header.threads) + bytes([header.build]) + header.fingerprint
    if header.layout == "stream" or header.segment != ARRAY_BLOCK:
        head += _varint(header.segment)
    head += _varint(header.count)
    if header.original_size is not None:
        head += _varint(header.original_size)
    if extra:
        head += _varint(len(extra)) + extra
    body = head + header.checksum + payload
    return body + binascii.crc_hqx(body, 0).to_bytes(2, "little")


def unpack(blob: bytes) -> tuple[Header, bytes]:
    """Header and payload of a file.

    Raises:
        CompressedFileError: not a chainrule file, another format version, a bad CRC (corrupt or truncated), or a
            header whose fields make no sense.
    """
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise CompressedFileError("compressed data must be bytes")
    blob = bytes(blob)
    if blob[:4] == OLD_MAGIC:
        raise CompressedFileError(
            f"this file has the compressed format 1 of an older chainrule; this version reads format {VERSION}: "
            "compress the data again (or decompress it with the chainrule that made it)"
        )
    if len(blob) < 2 or blob[:2] != MAGIC:
        raise CompressedFileError("not a chainrule compressed file (bad magic)")
    if len(blob) < 4:
        raise CompressedFileError("the compressed file is truncated")
    if blob[2] != VERSION:
        raise CompressedFileError(f"compressed file format version {blob[2]}; this chainrule reads {VERSION}")
    if len(blob) < 2 + 2 + 1 + 1 + FINGERPRINT_BYTES + 1 + 4 + 2:
        raise CompressedFileError("the compressed file is truncated")
    body, crc = blob[:-2], int.from_bytes(blob[-2:], "little")
    if binascii.crc_hqx(body, 0) != crc:
        raise CompressedFileError("the compressed file is corrupt or truncated (CRC mismatch)")
    flags = body[3]
    layout, device, dtype = flags & 1, (flags >> 1) & 3, (flags >> 3) & 3
    if device >= len(DEVICES) or (layout == 1 and flags >> 7):
        raise CompressedFileError("the compressed file's header is invalid")
    reader = _Reader(body, 4)
    threads = reader.varint(MAX_THREADS)
    build = reader.take(1)[0]
    fp = reader.take(FINGERPRINT_BYTES)
    segment = reader.varint() if layout == 1 or flags >> 7 else ARRAY_BLOCK
    count = reader.varint()
    original_size = reader.varint(1 << 62) if flags & 32 else None
    extra: Any = {}
    if flags & 64:
        try:
            extra = json.loads(reader.take(reader.varint(len(body))))
        except ValueError:
            raise CompressedFileError("the compressed file's header is invalid") from None
    checksum = reader.take(4)
    if threads < 1 or segment < 1 or not isinstance(extra, dict):
        raise CompressedFileError("the compressed file's header is invalid")
    header = Header(
        layout=LAYOUTS[layout],
        device=DEVICES[device],
        dtype=DTYPES[dtype],
        fingerprint=fp,
        count=count,
        checksum=checksum,
        threads=threads,
        build=build,
        segment=segment,
        original_size=original_size,
        extra=extra,
    )
    return header, body[reader.offset :]


def max_symbols(payload_bytes: int, levels: int, precision: int = PRECISION) -> int:
    """The most values a payload of `payload_bytes` can decode to: every table gives each of the K symbols at least
    1 / 2^precision, so the likeliest costs at least −log2(1 − (K−1)/2^precision) bits, and a range coder's output
    is never shorter than the information it carries minus its state (64 bits; 32 more allowed for the flush)."""
    least_bits = -math.log2(1 - (levels - 1) / (1 << precision))
    return math.floor((8 * payload_bytes + 96) / least_bits)


def check_model(header: Header, model, payload_bytes: int | None = None) -> None:
    """Refuse to decode with a model, device type, dtype or PyTorch build / CPU kind other than the encoder's,
    and data the header says is larger than decoding may allocate or than the payload (`payload_bytes`) can hold.

    Raises:
        CompressedFileError: naming what differs.
    """
    if header.fingerprint != fingerprint(model):
        raise CompressedFileError(
            f"the file was compressed with another model (fingerprint {header.fingerprint.hex()}, this model "
            f"{fingerprint(model).hex()}); decompress it with the model that compressed it"
        )
    device, dtype = device_of(model)
    if (device, dtype) != (header.device, header.dtype):
        raise CompressedFileError(
            f"the file was compressed on {header.device} in {_name(header.dtype)}; this model "
            f"runs on {device} in {_name(dtype)}: decode on the same device type and dtype"
        )
    if header.build != build_tag(model):
        raise CompressedFileError(
            f"the file was compressed with another PyTorch build or CPU kind (build tag {header.build:02x}; here "
            f"{build_tag(model):02x}: {build_description(model)}): decode it where the PyTorch version and the CPU "
            "kind are those that compressed it"
        )
    per_example = math.prod(model.shape) if header.layout == "array" else 1
    values = header.count * per_example
    if values > MAX_SYMBOLS:
        raise CompressedFileError("the compressed file's header is invalid")
    if payload_bytes is not None and values > max_symbols(payload_bytes, model.levels):
        raise CompressedFileError(
            f"the compressed file's header says it holds {values:,} values, more than its {payload_bytes:,}-byte "
            f"payload can code at {model.levels} levels ({max_symbols(payload_bytes, model.levels):,} at most): "
            "corrupt or crafted"
        )
    needed, memory = 8 * values, physical_memory()
    if memory and needed > memory:
        raise CompressedFileError(
            f"the compressed file holds {values:,} values ({needed / 2**30:.1f} GiB decoded), more than this machine's "
            f"memory ({memory / 2**30:.1f} GiB)"
        )


def physical_memory() -> int:
    """Bytes of RAM of this machine (0 where the OS does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0
