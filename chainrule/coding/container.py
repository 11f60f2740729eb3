"""The compressed file format (little-endian):

    magic "CRAC" | version u8 | layout u8 | precision u8 | device u8 | dtype u8 | model fingerprint 16 B
    | levels u32 | segment u32 | ndim u8 | dims u32 × ndim | original size u64 | data checksum 8 B
    | extra length u32 | extra (JSON, how to write the data back as a file) | payload | CRC-32 of all before, u32

What decoding needs to match encoding, and what this header pins down:
- the model: its fingerprint is a hash of its architecture (config.json) and every weight;
- the device type (cpu / cuda) and the parameters' dtype: the conditionals are recomputed step by step and must be
  the same floating-point numbers, which a different kind of device or precision does not guarantee.
A file made under other conditions is refused. The same holds for a different PyTorch build or CPU kind, which the
header cannot see; there the data checksum catches a mismatch: decoding fails with an error, it never returns wrong
data.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from chainrule.errors import CompressedFileError

MAGIC = b"CRAC"
VERSION = 1
LAYOUTS = ("array", "stream")  # (N, *shape) examples, or one 1-D sequence of any length
DEVICES = ("cpu", "cuda", "mps")
DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
MAX_SYMBOLS = 1 << 32  # decoding never allocates more than this many values, whatever the header says
_FIXED = struct.Struct("<4sBBBBB16sIIB")
_TAIL = struct.Struct("<Q8sI")
_CRC = struct.Struct("<I")


@dataclass
class Header:
    layout: str
    precision: int
    device: str
    dtype: torch.dtype
    fingerprint: bytes
    levels: int
    segment: int
    dims: tuple[int, ...]
    original_size: int
    checksum: bytes
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return math.prod(self.dims)


def fingerprint(model) -> bytes:
    """16 bytes identifying a model: hash of its architecture document and all its weights (floating-point ones
    as float32, so that the same model cast to another dtype is recognised and refused with a precise message)."""
    digest = hashlib.sha256(json.dumps(model.describe(), sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        tensor = tensor.detach().to("cpu")
        tensor = (tensor.float() if tensor.is_floating_point() else tensor).contiguous()
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.digest()[:16]


def data_checksum(values: np.ndarray) -> bytes:
    """8 bytes of BLAKE2b over the values as little-endian int32."""
    return hashlib.blake2b(np.ascontiguousarray(values, dtype="<i4").tobytes(), digest_size=8).digest()


def _name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def device_of(model) -> tuple[str, torch.dtype]:
    """The device type and dtype the model's parameters live on."""
    p = next(model.parameters())
    return p.device.type, p.dtype


def pack(header: Header, payload: bytes) -> bytes:
    """The whole file for a header and an entropy-coded payload."""
    extra = json.dumps(header.extra, sort_keys=True).encode() if header.extra else b""
    head = _FIXED.pack(
        MAGIC,
        VERSION,
        LAYOUTS.index(header.layout),
        header.precision,
        DEVICES.index(header.device),
        DTYPES.index(header.dtype),
        header.fingerprint,
        header.levels,
        header.segment,
        len(header.dims),
    )
    head += struct.pack(f"<{len(header.dims)}I", *header.dims)
    head += _TAIL.pack(header.original_size, header.checksum, len(extra)) + extra
    body = head + payload
    return body + _CRC.pack(zlib.crc32(body))


def unpack(blob: bytes) -> tuple[Header, bytes]:
    """Header and payload of a file.

    Raises:
        CompressedFileError: not a chainrule file, a newer version, a bad CRC (corrupt or truncated), or a header
            whose fields make no sense.
    """
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise CompressedFileError("compressed data must be bytes")
    blob = bytes(blob)
    if len(blob) < 4 or blob[:4] != MAGIC:
        raise CompressedFileError("not a chainrule compressed file (bad magic)")
    if len(blob) < _FIXED.size + _TAIL.size + _CRC.size:
        raise CompressedFileError("the compressed file is truncated")
    body, (crc,) = blob[:-4], _CRC.unpack(blob[-4:])
    if zlib.crc32(body) != crc:
        raise CompressedFileError("the compressed file is corrupt or truncated (CRC mismatch)")
    magic, version, layout, precision, device, dtype, fp, levels, segment, ndim = _FIXED.unpack_from(body)
    if version != VERSION:
        raise CompressedFileError(f"compressed file format version {version}; this chainrule reads {VERSION}")
    offset = _FIXED.size
    if layout >= len(LAYOUTS) or device >= len(DEVICES) or dtype >= len(DTYPES) or not 1 <= precision <= 31:
        raise CompressedFileError("the compressed file's header is invalid")
    if len(body) < offset + 4 * ndim + _TAIL.size:
        raise CompressedFileError("the compressed file's header is invalid")
    dims = struct.unpack_from(f"<{ndim}I", body, offset)
    offset += 4 * ndim
    original_size, checksum, extra_len = _TAIL.unpack_from(body, offset)
    offset += _TAIL.size
    if len(body) < offset + extra_len:
        raise CompressedFileError("the compressed file's header is invalid")
    try:
        extra = json.loads(body[offset : offset + extra_len]) if extra_len else {}
    except ValueError:
        raise CompressedFileError("the compressed file's header is invalid") from None
    header = Header(
        LAYOUTS[layout], precision, DEVICES[device], DTYPES[dtype], fp, levels, segment, dims, original_size, checksum
    )
    header.extra = extra if isinstance(extra, dict) else {}
    if header.count > MAX_SYMBOLS or (header.layout == "stream" and (ndim != 1 or segment < 1)):
        raise CompressedFileError("the compressed file's header is invalid")
    return header, body[offset + extra_len :]


def check_model(header: Header, model) -> None:
    """Refuse to decode with a model, device type or dtype other than the encoder's.

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
