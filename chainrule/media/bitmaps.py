"""Where the bits go: pictures of −log2 p(x_i | x_<i) per dimension, for `chainrule score --map`.

Images: each image beside a heat map of its bits per pixel (summed over colour channels); text: an HTML page with
each character shaded by its bits (its value on hover); audio: bits per sample over time (smoothed over 10 ms).
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from chainrule.data.vocabulary import Vocabulary
from chainrule.media.images import image_grid, save_png
from chainrule.serialization import atomic_write_bytes


def heat(values: np.ndarray, top: float) -> np.ndarray:
    """Values in [0, top] → uint8 RGB (..., 3) on matplotlib's magma map."""
    from matplotlib import colormaps

    scaled = np.clip(values / max(top, 1e-9), 0, 1)
    return (colormaps["magma"](scaled)[..., :3] * 255).astype(np.uint8)


def image_map(x: Tensor, bits: Tensor, levels: int, path: str | Path, limit: int = 64) -> None:
    """Pairs (image, bits heat map) for the first `limit` images, one row of pairs per 8; bits (N, C, H, W). The
    colour scale runs from 0 to the 99th percentile of the bits shown."""
    x, bits = x[:limit].cpu(), bits[:limit].cpu().float().sum(1)  # (n, H, W) bits per pixel
    top = float(np.percentile(bits.numpy(), 99)) if bits.numel() else 1.0
    pictures = torch.from_numpy(image_grid(x, levels, columns=1, pad=0)).reshape(len(x), *x.shape[2:], 3)
    maps = torch.from_numpy(heat(bits.numpy(), top))
    pairs = torch.cat([pictures, maps], dim=2)  # (n, H, 2W, 3)
    n, h, w2, _ = pairs.shape
    columns = min(8, n)
    rows = -(-n // columns)
    canvas = np.full((rows * (h + 2), columns * (w2 + 2), 3), 255, dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        canvas[r * (h + 2) : r * (h + 2) + h, c * (w2 + 2) : c * (w2 + 2) + w2] = pairs[i].numpy()
    save_png(canvas, path, scale=max(1, min(4, 256 // max(h, w2))))


def video_map(x: Tensor, bits: Tensor, levels: int, path: str | Path, limit: int = 8) -> None:
    """Per video (the first `limit`), two rows: its frames, and under each frame the heat map of its bits per pixel
    (bits (N, T, C, H, W)), so that where and when the bits go reads across time. One colour scale for all: 0 to
    the 99th percentile of the bits shown."""
    x, bits = x[:limit].cpu(), bits[:limit].cpu().float().sum(2)  # (n, T, H, W) bits per pixel
    n, t, h, w = bits.shape
    top = float(np.percentile(bits.numpy(), 99)) if bits.numel() else 1.0
    frames = torch.from_numpy(image_grid(x.flatten(0, 1), levels, columns=1, pad=0)).reshape(n, t, h, w, 3)
    maps = torch.from_numpy(heat(bits.reshape(n * t, h, w).numpy(), top)).reshape(n, t, h, w, 3)
    canvas = np.full((n * (2 * h + 4), t * (w + 2), 3), 255, dtype=np.uint8)
    for i in range(n):
        for f in range(t):
            top_row, left = i * (2 * h + 4), f * (w + 2)
            canvas[top_row : top_row + h, left : left + w] = frames[i, f].numpy()
            canvas[top_row + h + 1 : top_row + 2 * h + 1, left : left + w] = maps[i, f].numpy()
    save_png(canvas, path, scale=max(1, min(4, 256 // max(h, w))))


def characters(tokens: Tensor, bits: Tensor, vocabulary: Vocabulary) -> list[tuple[str, float]]:
    """(character, its bits) pairs; for a byte vocabulary the bytes of a UTF-8 character are summed."""
    if not vocabulary.is_bytes:
        return [(vocabulary.decode([t]), float(b)) for t, b in zip(tokens.tolist(), bits.tolist(), strict=True)]
    out, pending, total = [], b"", 0.0
    for t, b in zip(tokens.tolist(), bits.tolist(), strict=True):
        pending, total = pending + bytes([t]), total + b
        try:
            out.append((pending.decode("utf-8"), total))
        except UnicodeDecodeError:
            if len(pending) < 4:
                continue
            out.append((pending.decode("utf-8", errors="replace"), total))
        pending, total = b"", 0.0
    return out


def text_map(named: list[tuple[str, Tensor, Tensor]], vocabulary: Vocabulary, path: str | Path) -> None:
    """An HTML page: for each (name, tokens, bits) the text with every character shaded by its bits."""
    pairs = [characters(tokens, bits, vocabulary) for _, tokens, bits in named]
    every = [b for chars in pairs for _, b in chars]
    top = float(np.percentile(every, 99)) if every else 1.0
    parts = [
        "<!doctype html><meta charset='utf-8'><title>bits per character</title>",
        "<style>body{font-family:sans-serif}pre{white-space:pre-wrap;font-size:15px;line-height:1.6}</style>",
        f"<p>Each character shaded by −log2 p(character | the text before it): white 0 bits, dark {top:.1f}+.</p>",
    ]
    for (name, _, bits), chars in zip(named, pairs, strict=True):
        spans = []
        for ch, b in chars:
            r, g, bl = heat(np.array([b]), top)[0]
            ink = "#000" if b < 0.6 * top else "#fff"
            style = f"background:rgb({r},{g},{bl});color:{ink}"
            spans.append(f"<span title='{b:.2f} bits' style='{style}'>{html.escape(ch)}</span>")
        mean = float(bits.double().mean()) if len(bits) else 0.0
        parts.append(f"<h3>{html.escape(name)}: {mean:.3f} bits/token</h3><pre>{''.join(spans)}</pre>")
    atomic_write_bytes(path, "\n".join(parts).encode("utf-8"))


def audio_map(named: list[tuple[str, Tensor]], rate: int, path: str | Path, limit: int = 8) -> None:
    """Bits per sample over time for each (name, bits) recording (smoothed over 10 ms), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    named = named[:limit]
    fig, axes = plt.subplots(len(named), 1, figsize=(9, 1.8 * len(named) + 0.6), squeeze=False)
    window = max(1, rate // 100)
    for ax, (name, bits) in zip(axes[:, 0], named, strict=True):
        values = bits.double().numpy()
        smooth = np.convolve(values, np.ones(window) / window, mode="same") if len(values) >= window else values
        ax.plot(np.arange(len(values)) / rate, smooth, linewidth=0.8)
        ax.set_title(f"{name}: {values.mean():.3f} bits/sample", fontsize=9)
        ax.set_ylabel("bits")
    axes[-1, 0].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
