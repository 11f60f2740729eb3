"""IDX files (the MNIST / Fashion-MNIST format), gzipped or plain.

Layout: big-endian magic 0x0000 08 NDIM (type 0x08 = unsigned byte), NDIM big-endian int32 sizes, then the data.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from chainrule.errors import DataFormatError, DatasetNotFoundError

MAX_DIMS = 4
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parse IDX bytes into a uint8 array.

    Raises:
        DataFormatError: bad magic, unsupported type, or a size that does not match the header.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataFormatError(f"{name} is not an IDX file (bad magic)")
    kind, ndim = data[2], data[3]
    if kind != 0x08:
        raise DataFormatError(f"{name} holds IDX type 0x{kind:02x}; only unsigned bytes (0x08) are supported")
    if not 1 <= ndim <= MAX_DIMS or len(data) < 4 + 4 * ndim:
        raise DataFormatError(f"{name} has a bad IDX header ({ndim} dimensions)")
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    expected = int(np.prod(dims, dtype=np.int64))
    body = data[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataFormatError(f"{name}: header promises {expected} bytes of data, file holds {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file, gunzipping when its name ends in .gz."""
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as err:
        raise DataFormatError(f"{path} cannot be read ({err.__class__.__name__}): corrupt or truncated") from None
    return parse_idx(data, str(path))


def find(directory: Path, stem: str) -> Path:
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetNotFoundError(f"{directory} has no {stem}[.gz]")


def load_idx_dir(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 1, H, W) uint8 and labels (N,) of the `train` or `test` files in `directory`."""
    images_stem, labels_stem = FILES[split]
    images = read_idx(find(directory, images_stem))
    labels = read_idx(find(directory, labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataFormatError(f"{directory}: {split} images {images.shape} and labels {labels.shape} do not match")
    return images[:, None], labels


def is_idx_dir(directory: Path) -> bool:
    return any((directory / f"{FILES['train'][0]}{ext}").is_file() for ext in ("", ".gz"))
