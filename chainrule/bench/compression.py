"""Compression benchmark: the learned coder on a trained run's test split, against the model's own NLL and the
classic codecs on the same values.

Rows (bits per dimension: per sub-pixel, character byte or audio sample):
- model NLL: −log2 p(x) from the model's evaluation (one parallel pass for images, `stream_log_probs` for streams);
- walk NLL: −log2 p(x) of the conditionals the coder used (for streams, segments start with empty context);
- learned coder: the real compressed file, header included; overhead = file / walk NLL − 1;
- classic codecs on the same values (images only at 256 levels: the codecs see the 8-bit pixels; videos: their
  frames as images, the raw bytes, and FFV1 per video).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from chainrule import lossless as codecs
from chainrule.cli.common import run_data
from chainrule.coding import codec
from chainrule.models import load


def _stream_nll_bits(model, tokens: torch.Tensor) -> float:
    with torch.no_grad():
        return -float(model.stream_log_probs(tokens).double().sum()) / math.log(2)


def _image_nll_bits(model, x: torch.Tensor, batch: int = 256) -> float:
    with torch.no_grad():
        return -sum(float(model.log_prob(x[i : i + batch]).double().sum()) for i in range(0, len(x), batch)) / math.log(
            2
        )


def measure(run_dir: str, limit: int | None, device: str = "cpu", progress: bool = False) -> dict[str, Any]:
    """One run's figures: {"data", "values", "model_bpd", "walk_bpd", "coded_bpd", "overhead", "encode_per_s",
    "decode_per_s", "classic": {codec: bpd or a reason string}}."""
    model = load(run_dir, device)
    ds = run_data(run_dir, "test")
    classic: dict[str, float | str] = {}
    if ds.is_stream:
        x = ds.tokens[:limit] if limit else ds.tokens
        model_bits = _stream_nll_bits(model, x)
        values = x.numpy().astype(np.uint8)
        kind = ds.kind
        raw = (
            bytes(values)
            if kind.is_audio or kind.vocab == ""
            else kind.vocabulary.decode(x).encode("utf-8")  # characters: the codecs see the UTF-8 text
        )
        for name, fn in codecs.STREAM_CODECS.items():
            classic[name] = _bpd(fn, len(x), raw)
        if kind.is_audio:
            classic["flac -8 (8-bit)"] = _bpd(codecs.flac8, len(x), values, kind.rate)
        what = f"{ds.name} test, {len(x):,} {'samples' if kind.is_audio else 'tokens'}"
    else:
        x = ds.x[:limit] if limit else ds.x
        model_bits = _image_nll_bits(model, x, batch=8 if ds.kind.is_video else 256)
        if ds.levels == 256 and ds.source_levels == 256:
            # videos: the codecs see their frames (PNG per frame, a mosaic of all, the raw frames' bytes)
            images = (x.flatten(0, 1) if ds.kind.is_video else x).numpy().astype(np.uint8)
            for name, fn in codecs.IMAGE_CODECS.items():
                if name != "JPEG XL lossless":  # one process per image would dominate the run
                    classic[f"{name}, one file per image"] = _bpd(
                        lambda ims, f=fn: sum(f(im) for im in ims), x.numel(), images
                    )
                classic[f"{name}, mosaic"] = _bpd(lambda ims, f=fn: f(codecs.mosaic(ims)), x.numel(), images)
            for name, fn in codecs.BYTE_CODECS.items():
                classic[name] = _bpd(fn, x.numel(), images.tobytes())
            if ds.kind.is_video:  # FFmpeg's lossless video codec, one file per video
                videos = x.numpy().astype(np.uint8)
                classic["FFV1 (Matroska), one file per video"] = _bpd(
                    lambda vs: sum(codecs.ffv1(v) for v in vs), x.numel(), videos
                )
        things = "videos" if ds.kind.is_video else "images"
        what = f"{ds.name} test, {len(x):,} {things} of {tuple(x.shape[1:])} at {ds.levels} levels"
    stats: dict[str, float] = {}
    start = time.perf_counter()
    blob = codec.compress(model, x, progress=progress, stats=stats)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    y = codec.decompress(model, blob, progress=progress)
    decode_s = time.perf_counter() - start
    if not torch.equal(y, x):
        raise RuntimeError("the learned coder did not reproduce its input")
    n = x.numel()
    return {
        "run": run_dir,
        "data": what,
        "values": n,
        "model_bpd": model_bits / n,
        "walk_bpd": stats["model_bits"] / n,
        "coded_bpd": 8 * len(blob) / n,
        "overhead": 8 * len(blob) / stats["model_bits"] - 1,
        "bytes": len(blob),
        "encode_per_s": n / encode_s,
        "decode_per_s": n / decode_s,
        "classic": classic,
    }


def _bpd(fn, values: int, *args) -> float | str:
    try:
        return 8 * fn(*args) / max(values, 1)
    except codecs.Missing as err:
        return str(err)
