"""Videos written for people: an animated GIF (Pillow) or an MP4 (H.264 through PyAV, `chainrule[video]`) of the
videos side by side, a PNG strip (one row per video, one column per frame), or the values themselves as .npy. In an
animation, frames that were given rather than generated have a grey rim and generated ones a red rim, so that a
prediction reads at a glance.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from chainrule.errors import InputError
from chainrule.media.images import image_grid, save_png
from chainrule.serialization import atomic_write_bytes

VIDEO_SUFFIXES = (".gif", ".mp4", ".png", ".npy")
FRAME_MS = 200  # GIF frame time: 5 frames per second, slow enough to follow a digit


def video_frames(videos: Tensor, levels: int, columns: int | None = None, given: int = 0) -> list[np.ndarray]:
    """One uint8 (H', W', 3) image per frame time: the videos (n, T, C, H, W) tiled `columns` to a row; frames
    before `given` drawn with a grey rim (the given frames), later ones with a red rim (generated)."""
    n, t = videos.shape[:2]
    out = []
    for f in range(t):
        rim = (128, 128, 128) if f < given else (200, 60, 60)
        out.append(image_grid(videos[:, f], levels, columns, pad=2, rim=rim if given else None))
    return out


def save_video(
    videos: Tensor,
    levels: int,
    path: str | Path,
    columns: int | None = None,
    given: int = 0,
) -> None:
    """Write long (n, T, C, H, W) videos at `levels` levels to `path` by its suffix: .gif (animated, the videos
    tiled), .png (a strip: one row per video, one column per frame) or .npy (the values, uint8 or int32).
    `given`: frames at the start that were given (marked in the animation). Pillow stores a frame equal to the one
    before it once, with both durations: the animation plays the same, its frame count may be smaller.

    Raises:
        InputError: for another suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"{path}: write videos as {', '.join(VIDEO_SUFFIXES)}")
    videos = videos.detach().cpu().long()
    if suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, videos.numpy().astype(np.uint8 if levels <= 256 else np.int32), allow_pickle=False)
        atomic_write_bytes(path, buffer.getvalue())
        return
    scale = max(1, min(4, 128 // max(videos.shape[-2:])))
    if suffix == ".png":
        strip = image_grid(videos.flatten(0, 1), levels, columns=videos.shape[1], pad=2)
        save_png(strip, path, scale)
        return
    if suffix == ".mp4":
        write_mp4(video_frames(videos, levels, columns, given), path, scale)
        return
    frames = [Image.fromarray(f) for f in video_frames(videos, levels, columns, given)]
    if scale > 1:
        frames = [f.resize((f.width * scale, f.height * scale), Image.NEAREST) for f in frames]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)
    atomic_write_bytes(path, buffer.getvalue())


def write_mp4(frames: list[np.ndarray], path: Path, scale: int) -> None:
    """H.264 (libx264, yuv420p, CRF 18: for viewing, not lossless) through PyAV, at 1000 / FRAME_MS frames per
    second; the pictures are enlarged `scale` times and padded to even sides.

    Raises:
        InputError: without PyAV."""
    try:
        import av
    except ImportError:
        raise InputError("writing .mp4 needs PyAV: pip install av (or 'chainrule[video]'); or write .gif") from None
    h, w = frames[0].shape[:2]
    height, width = -(-h * scale // 2) * 2, -(-w * scale // 2) * 2
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=1000 // FRAME_MS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "18"}
        for picture in frames:
            big = np.repeat(np.repeat(picture, scale, 0), scale, 1)
            canvas = np.full((height, width, 3), 255, dtype=np.uint8)
            canvas[: big.shape[0], : big.shape[1]] = big
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    atomic_write_bytes(path, buffer.getvalue())
