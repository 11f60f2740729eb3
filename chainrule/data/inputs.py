"""A user's input files read into the values a model takes, one reader per data kind, for every command
(`score`, `compress`, `complete`, `upscale`, `colourise`):

- text (a Char-RNN or Transformer): a file's bytes, or its characters for a character vocabulary;
- audio (a WaveNet): a WAV file resampled to the model's rate and encoded (μ-law or linear 8-bit);
- video (a Video Pixel Network): `data.video` (.npy / .npz arrays, animated GIFs);
- arrays (images, codes, plain values): a `.png` file or a folder of them, a `.npy` array (N, ...), a `.npz`
  holding one as `x` (`data.arrays`' layout), or an IDX file.

Anything the model cannot represent (a shape, a level range, characters outside the vocabulary, no examples at all)
is refused with one line naming the file; nothing is clipped.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from chainrule.data.idx import parse_idx
from chainrule.data.png_folder import read_png
from chainrule.errors import DataFormatError, InputError


def read_input(model, path: str | Path) -> tuple[Tensor, dict[str, Any], int]:
    """The values of the file (or PNG folder) `path` for `model` (anything with `data_kind`, `shape`, `levels`),
    the facts needed to write them back as such a file, and the input's size in bytes.

    Returns:
        (long (N, *model.shape) for arrays or (L,) tokens for text and audio, facts, bytes read)
    Raises:
        InputError, DataFormatError: a missing or unreadable file, or values the model cannot represent.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    kind = model.data_kind
    if kind.is_audio:
        from chainrule.data.audio import read_wav
        from chainrule.data.mulaw import encode

        samples, rate = read_wav(path, kind.rate)
        return encode(torch.from_numpy(samples), kind.encoding), {"kind": "wav", "rate": rate}, _size(path)
    if kind.is_text:
        return _read_text(kind.vocabulary, path)
    if kind.is_video:
        from chainrule.data.video import read_videos

        videos, extra = read_videos(path, tuple(model.shape), model.levels)
        return torch.from_numpy(np.ascontiguousarray(videos).astype(np.int64)), extra, _size(path)
    array, extra = read_arrays(path, model.levels)
    x = torch.from_numpy(np.ascontiguousarray(array).astype(np.int64))
    if tuple(x.shape[1:]) != model.shape and x.dim() == len(model.shape) and model.shape[0] == 1:
        x = x.unsqueeze(1)  # (N, H, W) grey images for a (1, H, W) model
    if tuple(x.shape[1:]) != tuple(model.shape):
        raise InputError(f"{path} holds data of shape {tuple(array.shape)}; this model takes (N, {model.shape})")
    check_levels(x, model.levels, str(path))
    return x, extra, _size(path)


def _read_text(vocabulary, path: Path) -> tuple[Tensor, dict[str, Any], int]:
    if not path.is_file():
        raise InputError(f"{path} is not a file; a text model reads one file")
    data = path.read_bytes()  # may be empty: an empty file compresses (scoring refuses it)
    if vocabulary.is_bytes:
        return torch.tensor(list(data), dtype=torch.long), {"kind": "text"}, len(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text (byte {err.start}); this model reads characters") from None
    return vocabulary.encode(text, str(path)), {"kind": "text"}, len(data)


def read_arrays(path: Path, levels: int) -> tuple[np.ndarray, dict[str, Any]]:
    """The integer array (N, ...) of a PNG file or folder (PNGs read at `levels`), `.npy`, `.npz` (`x`) or IDX file,
    and the facts to write it back. At least one example.

    Raises:
        InputError, DataFormatError: an unreadable file, a non-integer array or no examples."""
    suffix = path.suffix.lower()
    if path.is_dir() or suffix == ".png":
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.suffix.lower() == ".png")
        if not files:
            raise InputError(f"{path} holds no .png files")
        images = [read_png(f, levels) for f in files]
        if len({im.shape for im in images}) > 1:
            raise InputError(f"{path}: the images differ in size or channels")
        names = [path.name] if path.is_file() else [f.relative_to(path).as_posix() for f in files]
        return np.stack(images), {"kind": "png", "names": names}
    if suffix in (".npy", ".npz"):
        array = load_numpy(path)
        if array.dtype.kind not in "iub" or array.ndim < 1:
            raise InputError(f"{path}: need an integer array (N, ...), got {array.dtype} {array.shape}")
        if not len(array):
            raise InputError(f"{path} holds no examples (shape {array.shape})")
        return array, {"kind": "npy", "shape": list(array.shape), "dtype": array.dtype.str}
    array = parse_idx(path.read_bytes(), str(path))
    if not len(array):
        raise InputError(f"{path} holds no examples")
    return array, {"kind": "idx"}


def load_numpy(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            files = list(loaded.files)
            array = loaded["x"] if "x" in files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataFormatError(f"{path} is not a readable .npy/.npz file ({err.__class__.__name__})") from None
    if array is None:
        raise DataFormatError(f"{path}: an .npz needs an array named 'x' (found {', '.join(files) or 'none'})")
    return array


def check_levels(x: Tensor, levels: int, what: str) -> None:
    """Refuse values outside 0..levels-1 (never clipped)."""
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= levels):
        raise InputError(
            f"{what} has values {int(x.min())}..{int(x.max())}; this model takes 0..{levels - 1} "
            "(use a model trained at the data's levels)"
        )


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
