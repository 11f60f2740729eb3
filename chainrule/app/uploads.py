"""What the app does with a user's file, for any model: read it (never by a path from the browser: the bytes go to
a private temporary file named by the kind's extension, read by the CLI's checked readers, so a file is refused
with the same one-line message the CLI gives), score it, compress it."""

from __future__ import annotations

import bz2
import math
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from chainrule.app.pictures import bits_map
from chainrule.app.served import MAX_UPLOAD, UPLOAD_SUFFIXES, Served
from chainrule.coding import codec
from chainrule.data.inputs import read_arrays, read_input
from chainrule.errors import ChainruleError, InputError
from chainrule.lossless import png as png_size
from chainrule.media.bitmaps import characters
from chainrule.scoring.scores import dimension_bits, validation_bits


def read_upload(served: Served, data: bytes, filename: str, reader=None):
    """An uploaded file's values for the served model, read by the CLI's checked reader (`read_input`; an
    image-to-image model's: `read_arrays`, and the first image of the file is returned).

    Raises:
        InputError: a file too large, of a kind the model does not read, or values it cannot represent."""
    if len(data) > MAX_UPLOAD:
        raise InputError(f"the file is {len(data):,} bytes; the app takes at most {MAX_UPLOAD:,}")
    if not data:
        raise InputError("the file is empty")
    suffix = Path(filename or "").suffix.lower()
    allowed = UPLOAD_SUFFIXES["image" if served.kind in ("image", "codes", "convert") else served.kind]
    if suffix not in allowed:
        raise InputError(f"this {served.kind} model reads {' or '.join(allowed)} files, not {suffix or 'this file'}")
    shown = Path(filename).name[:80] or f"upload{suffix}"  # what messages call the file
    with tempfile.TemporaryDirectory(prefix="chainrule-upload-") as folder:
        path = Path(folder) / f"upload{suffix}"  # our name, never the browser's
        path.write_bytes(data)
        try:
            if reader is None:
                return read_input(served.model, path)
            array = reader(path)[0]
            if array.ndim not in (3, 4):
                raise InputError(f"{path}: need images (N, H, W) or (N, C, H, W), got shape {array.shape}")
            return torch.from_numpy(np.ascontiguousarray(array[0] if array.ndim == 4 else array[:1]).astype(np.int64))
        except ChainruleError as err:  # the reader's message, about the user's file rather than our copy
            raise type(err)(str(err).replace(str(path), shown)) from None


def one_image(served: Served, index: int | None, data: bytes | None, filename: str | None) -> Tensor:
    """A test example (by index) or the first image of an upload: long (C, H, W) (an image-to-image model's
    upload: at its input's size or its output's)."""
    if data is not None and served.kind == "convert":
        return read_upload(served, data, filename or "", reader=partial(read_arrays, levels=served.model.levels))
    if data is not None:
        return read_upload(served, data, filename or "")[0][0]
    if served.examples is None or index is None or not 0 <= index < len(served.examples):
        count = 0 if served.examples is None else len(served.examples)
        raise InputError(f"pick a test image 0..{count - 1} or upload one" if count else "upload an image")
    return served.examples[index]


def score_upload(served: Served, data: bytes, filename: str) -> dict[str, Any]:
    """The anomaly score of an uploaded input: its bits per dimension against what the model's validation data
    cost (a typical input costs about as much), with its map (images: per pixel; text: per character)."""
    x, _, _ = read_upload(served, data, filename)
    reference = validation_bits(served.run)
    if served.kind in ("image", "codes"):
        figures = bits_map(served, x[0])
        figures["inputs"] = len(x)
    else:
        with torch.inference_mode():
            bits = dimension_bits(served.model, [x])[0]
        figures = {"bits_per_dim": float(bits.mean()) if len(bits) else math.nan, "bits": float(bits.sum())}
        if served.kind == "text":
            pairs = characters(x[:2000], bits[:2000], served.model.vocabulary)
            figures["characters"] = [[c, b] for c, b in pairs]
    figures["reference"] = reference
    if reference is not None:
        figures["excess"] = figures["bits_per_dim"] - reference  # > 0: costlier than typical data
    return figures


def compress_upload(served: Served, data: bytes, filename: str) -> dict[str, Any]:
    """Lossless compression of an upload with the model: its size beside PNG (images) or bzip2 (the file's bytes),
    decoded again and compared value for value."""
    if served.kind == "codes":
        raise InputError("a prior over VQ-VAE codes compresses lossily only: chainrule compress --lossy")
    x, extra, size = read_upload(served, data, filename)
    model = served.model
    start = time.perf_counter()
    blob = codec.compress(model, x, extra=extra, original_size=size)
    seconds = time.perf_counter() - start
    back = codec.decompress(model, blob)
    if served.kind == "image":
        pixels = x.numpy().astype(np.uint8) * (255 // (model.levels - 1))
        classic, name = sum(png_size(image) for image in pixels), "PNG (each image, optimised)"
    else:
        classic, name = len(bz2.compress(data, 9)), "bzip2 -9 of the file"
    return {
        "values": int(x.numel()),
        "original": size,
        "compressed": len(blob),
        "bits_per_value": 8 * len(blob) / max(1, x.numel()),
        "classic": classic,
        "classic_name": name,
        "equal": bool(torch.equal(back, x)),
        "seconds": seconds,
    }
