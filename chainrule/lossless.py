"""Classic lossless codecs: the comparison for the learned coder (`chainrule bench compression`) and the L(x) of
input-complexity scores (`scoring`). Every result is decoded and checked against its input. xz and bzip2 come from
Python's standard library; zstd, zpaq, cjxl/djxl and flac are the Debian packages `zstd`, `zpaq`, `libjxl-tools`
and `flac` (`scripts/setup-codecs.sh` installs them); a missing tool is reported, not guessed.
"""

from __future__ import annotations

import bz2
import io
import lzma
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

INSTALL = "run scripts/setup-codecs.sh (apt-get install zstd zpaq libjxl-tools flac)"


class Missing(Exception):
    """A codec whose command-line tool is not installed."""


def installed(name: str) -> bool:
    """Whether the command-line tool `name` is on the PATH."""
    return shutil.which(name) is not None


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise Missing(f"{name} not installed: {INSTALL}")
    return path


def _run(argv: list[str], data: bytes | None = None, cwd: str | None = None) -> bytes:
    return subprocess.run(argv, input=data, capture_output=True, check=True, cwd=cwd).stdout


def _checked(size: int, decoded: bytes | np.ndarray, original: bytes | np.ndarray) -> int:
    same = decoded == original if isinstance(original, bytes) else np.array_equal(decoded, original)
    if not same:
        raise RuntimeError("a classic codec did not reproduce its input")
    return size


# --- byte streams --------------------------------------------------------------------------------------------


def xz(data: bytes) -> int:
    """xz -9e (the .xz container, as the command writes it)."""
    out = lzma.compress(data, format=lzma.FORMAT_XZ, preset=9 | lzma.PRESET_EXTREME)
    return _checked(len(out), lzma.decompress(out), data)


def bzip2(data: bytes) -> int:
    """bzip2 -9."""
    out = bz2.compress(data, 9)
    return _checked(len(out), bz2.decompress(out), data)


def zstd(data: bytes) -> int:
    """zstd --ultra -22."""
    tool = _tool("zstd")
    out = _run([tool, "--ultra", "-22", "-q", "-c"], data)
    return _checked(len(out), _run([tool, "-d", "-q", "-c"], out), data)


def zpaq(data: bytes) -> int:
    """zpaq -m5 (context mixing; the archive as the command writes it, with its one file name)."""
    tool = _tool("zpaq")
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "data").write_bytes(data)
        _run([tool, "a", "data.zpaq", "data", "-m5"], cwd=folder)
        size = Path(folder, "data.zpaq").stat().st_size
        _run([tool, "x", "data.zpaq", "data", "-to", "decoded"], cwd=folder)
        return _checked(size, Path(folder, "decoded").read_bytes(), data)


BYTE_CODECS = {"xz -9e": xz, "zstd --ultra -22": zstd, "bzip2 -9": bzip2}
STREAM_CODECS = {**BYTE_CODECS, "zpaq -m5": zpaq}  # text and audio (zpaq -m5 takes minutes on image sets)

# --- images --------------------------------------------------------------------------------------------------


def _pil(image: np.ndarray) -> Image.Image:
    """uint8 (C, H, W) → PIL image."""
    return Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def _pil_bytes(image: np.ndarray, fmt: str) -> tuple[int, np.ndarray]:
    buffer = io.BytesIO()
    if fmt == "PNG":
        _pil(image).save(buffer, format="PNG", optimize=True)
    else:
        _pil(image).save(buffer, format="WEBP", lossless=True, quality=100, method=6)
    decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert(_pil(image).mode))
    return len(buffer.getvalue()), decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)


def png(image: np.ndarray) -> int:
    """PNG, zlib at its best setting (Pillow's optimize)."""
    size, decoded = _pil_bytes(image, "PNG")
    return _checked(size, decoded, image)


def webp(image: np.ndarray) -> int:
    """WebP lossless, effort 6 (cwebp -lossless -z 9 equivalent)."""
    size, decoded = _pil_bytes(image, "WEBP")
    return _checked(size, decoded, image)


def jpegxl(image: np.ndarray) -> int:
    """JPEG XL lossless, effort 9 (cjxl -d 0 -e 9)."""
    cjxl, djxl = _tool("cjxl"), _tool("djxl")
    with tempfile.TemporaryDirectory() as tmp:
        src, out, back = Path(tmp, "in.png"), Path(tmp, "out.jxl"), Path(tmp, "back.png")
        _pil(image).save(src)
        _run([cjxl, str(src), str(out), "-d", "0", "-e", "9", "--quiet"])
        _run([djxl, str(out), str(back), "--quiet"])
        decoded = np.asarray(Image.open(back).convert(_pil(image).mode))
        decoded = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
        return _checked(out.stat().st_size, decoded, image)


IMAGE_CODECS = {"PNG": png, "WebP lossless": webp, "JPEG XL lossless": jpegxl}


def mosaic(images: np.ndarray) -> np.ndarray:
    """Tile uint8 (N, C, H, W) images into one (C, rows·H, cols·W) image, cols = ceil(sqrt(N)) (blank tail)."""
    n, c, h, w = images.shape
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = max(1, -(-n // cols))
    canvas = np.zeros((rows * cols, c, h, w), dtype=np.uint8)
    canvas[:n] = images
    return canvas.reshape(rows, cols, c, h, w).transpose(2, 0, 3, 1, 4).reshape(c, rows * h, cols * w)


# --- audio ---------------------------------------------------------------------------------------------------


def flac8(codes: np.ndarray, rate: int) -> int:
    """flac -8 of 8-bit codes as signed samples (code − 128), mono, raw input."""
    tool = _tool("flac")
    raw = (codes.astype(np.int16) - 128).astype(np.int8).tobytes()
    form = ["--force-raw-format", "--endian=little", "--sign=signed"]
    out = _run([tool, "-8", "-s", *form, "--channels=1", "--bps=8", f"--sample-rate={rate}", "-c", "-"], raw)
    return _checked(len(out), _run([tool, "-d", "-s", *form, "-c", "-"], out), raw)


# --- video ---------------------------------------------------------------------------------------------------

VIDEO_INSTALL = "pip install av (or 'chainrule[video]')"


def ffv1(video: np.ndarray) -> int:
    """FFV1 version 3 (FFmpeg's lossless intra-frame video codec; range coder, large context model) in Matroska,
    through PyAV: uint8 (T, C, H, W), grey (gray8) or RGB (bgr0); decoded and checked."""
    try:
        import av
    except ImportError:
        raise Missing(f"PyAV not installed: {VIDEO_INSTALL}") from None
    t, c, h, w = video.shape
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=25)
        stream.width, stream.height = w, h
        stream.pix_fmt = "gray" if c == 1 else "bgr0"
        stream.options = {"level": "3", "coder": "range_def", "context": "1", "slicecrc": "0"}
        for frame in video:
            picture = frame[0] if c == 1 else frame.transpose(1, 2, 0)  # RGB is stored as bgr0 planes, losslessly
            image = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="gray" if c == 1 else "rgb24")
            for packet in stream.encode(image):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    data = buffer.getvalue()
    with av.open(io.BytesIO(data), mode="r") as container:
        frames = [f.to_ndarray(format="gray" if c == 1 else "rgb24") for f in container.decode(video=0)]
    decoded = np.stack(frames)
    decoded = decoded[:, None] if c == 1 else decoded.transpose(0, 3, 1, 2)
    return _checked(len(data), decoded, video)
