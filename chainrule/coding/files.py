"""Decoded values → files, for `chainrule decompress` (the inputs are read by `data.inputs.read_input`).

What comes back is lossless on the model's representation:
- text (a Char-RNN or Transformer): the file's exact bytes (a character vocabulary needs UTF-8 text whose
  characters it holds; the byte vocabulary takes any file);
- images (.npy, IDX, a .png file or a folder of them): the same pixel values, array shape and dtype, and PNG
  names; the files themselves are re-written, so their bytes (PNG compression settings, .npy header) may differ;
- WAV (a WaveNet): the model's 8-bit codes (μ-law or linear) of the audio resampled to the model's rate; this is
  itself lossy w.r.t. a 16-bit recording. The output is 16-bit PCM of those codes, and compressing it again gives the
  same codes.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor

from chainrule.errors import CompressedFileError, DataFormatError
from chainrule.serialization import atomic_write_bytes

FILE_KINDS = {"text": "text", "wav": "audio", "npy": "image", "idx": "image", "png": "image"}  # → model data kind
EXTRA_FIELDS = {"text": set(), "wav": {"rate"}, "npy": {"shape", "dtype"}, "idx": set(), "png": {"names"}}
MAX_RATE = 1 << 20


def check_extra(model, extra: Any, shape: tuple[int, ...]) -> dict[str, Any]:
    """The header's facts on how to write decoded data back (`read_input`'s `extra`), checked against the schema
    of their kind and against the model and the `shape` of the decoded data ((N, *model.shape), or (L,) for a
    stream), before anything is decoded or written. No facts at all mean a plain .npy of the decoded values.
    Returns them without the lossy coder's and the generation order's own entries.

    Raises:
        CompressedFileError: a kind, field or value `read_input` never writes (a crafted or damaged header).
    """
    from chainrule.coding.codec import ORDER
    from chainrule.coding.lossy import LOSSY

    facts = {k: v for k, v in extra.items() if k not in (LOSSY, ORDER)} if isinstance(extra, dict) else None
    if facts == {}:  # data compressed from Python without facts: written as the array it is
        facts = {"kind": "npy", "shape": list(shape), "dtype": "<i8"}
    count = shape[0]
    kind = facts.get("kind") if facts else None
    if not isinstance(kind, str) or kind not in FILE_KINDS:
        raise CompressedFileError(f"the compressed file's header names no known file kind ({kind!r}); refused")
    if set(facts) != EXTRA_FIELDS[kind] | {"kind"}:
        raise CompressedFileError(
            f"the compressed file's header has fields {sorted(facts)} for a {kind} file; expected "
            f"{sorted(EXTRA_FIELDS[kind] | {'kind'})}"
        )
    wanted, data_kind = FILE_KINDS[kind], model.data_kind
    sequence = data_kind.is_text or data_kind.is_audio
    if (wanted != "image" and data_kind.name != wanted) or (wanted == "image" and sequence and kind != "npy"):
        raise CompressedFileError(f"the compressed file says it holds a {kind} file; this model codes {data_kind.name}")
    if kind == "wav" and not (isinstance(facts["rate"], int) and 0 < facts["rate"] <= MAX_RATE):
        raise CompressedFileError(f"the compressed file's sample rate {facts['rate']!r} is invalid")
    if kind == "npy":
        _check_npy_facts(model, facts, shape)
    if kind == "idx" and model.levels > 256:
        raise CompressedFileError("the compressed file asks for IDX output, which holds 8-bit values only")
    if kind == "png":
        names = facts["names"]
        if not (isinstance(names, list) and len(names) == count and all(isinstance(n, str) and n for n in names)):
            raise CompressedFileError(f"the compressed file's PNG names must be {count} non-empty strings")
        if any(Path(n).is_absolute() or ".." in Path(n).parts for n in names):
            raise CompressedFileError("the compressed file names an unsafe path")
    return facts


def _check_npy_facts(model, facts: dict[str, Any], decoded: tuple[int, ...]) -> None:
    shape, name = facts["shape"], facts["dtype"]
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise CompressedFileError(f"the compressed file's array shape {shape!r} is not a list of integers")
    if model.data_kind.is_video:  # (N, T, C, H, W) as read: as it is, without a grey channel, or channels last
        n, t, c, h, w = decoded
        allowed = [list(decoded), [n, t, h, w, c]] + ([[n, t, h, w]] if c == 1 else [])
    else:
        allowed = [list(decoded)] + ([[decoded[0], *decoded[2:]]] if len(decoded) > 2 and decoded[1] == 1 else [])
    if shape not in allowed:
        raise CompressedFileError(f"the compressed file's array shape {shape} does not fit the decoded {decoded}")
    try:
        dtype = np.dtype(name) if isinstance(name, str) else None
    except TypeError:
        dtype = None
    if dtype is None or dtype.kind not in "iub" or dtype.itemsize > 8:
        raise CompressedFileError(f"the compressed file's dtype {name!r} is not an integer dtype; refused")
    top = 1 if dtype.kind == "b" else int(np.iinfo(dtype).max)
    if top < model.levels - 1:
        raise CompressedFileError(f"the compressed file's dtype {name} cannot hold {model.levels} levels; refused")


def write_output(model, x: Tensor, extra: dict[str, Any], path: str | Path) -> Path:
    """Write decoded values back in the input's kind (see the module docstring), after `check_extra`. Returns the
    path written.

    Raises:
        CompressedFileError: facts that do not fit the model or the data (see `check_extra`)."""
    path = Path(path)
    extra = check_extra(model, extra, tuple(x.shape))
    kind = extra.get("kind")
    if kind == "text":
        vocabulary = model.data_kind.vocabulary
        data = bytes(x.tolist()) if vocabulary.is_bytes else vocabulary.decode(x).encode("utf-8")
        atomic_write_bytes(path, data)
    elif kind == "wav":
        from chainrule.data.audio import write_wav
        from chainrule.data.mulaw import decode

        write_wav(path, decode(x, model.data_kind.encoding), int(extra["rate"]))
    elif kind == "npy":
        buffer = io.BytesIO()
        array = x.numpy()
        if model.data_kind.is_video and list(extra["shape"]) not in (
            list(array.shape),
            [*array.shape[:2], *array.shape[3:]],
        ):
            array = array.transpose(0, 1, 3, 4, 2)  # the channels were last in the input
        np.save(buffer, array.astype(np.dtype(extra["dtype"])).reshape(extra["shape"]), allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
    elif kind == "idx":
        array = x.numpy().astype(np.uint8)
        array = array[:, 0] if array.ndim == 4 and array.shape[1] == 1 else array
        header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
        atomic_write_bytes(path, header + array.tobytes())
    elif kind == "png":
        _write_pngs(x, extra["names"], path)
    return path


def _write_pngs(x: Tensor, names: list[str], path: Path) -> None:
    single = len(names) == 1 and path.suffix.lower() == ".png"
    for image, name in zip(x.numpy().astype(np.uint8), names, strict=True):
        target = path if single else path / name
        if not single and (Path(name).is_absolute() or ".." in Path(name).parts):
            raise DataFormatError(f"the compressed file names an unsafe path {name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(buffer, format="PNG")
        atomic_write_bytes(target, buffer.getvalue())
