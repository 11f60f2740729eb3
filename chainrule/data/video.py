"""A user's videos read into the values a video model takes (`data.kind` video: (T, C, H, W) at K levels):

- an `.npy` array, or an `.npz` holding one as `x`: (N, T, H, W) grey, (N, T, H, W, C) with the channels last, or
  (N, T, C, H, W); integer values already at the model's levels;
- an animated GIF (read with Pillow) or a video file (MP4, Matroska, WebM, AVI, QuickTime: decoded by FFmpeg
  through PyAV, `chainrule[video]`), or a folder of them (one video each, sorted by name): every frame converted
  to grey or RGB as the model's channels say and requantized from 256 levels to the model's.

Nothing is resized, cropped or clipped: a frame size, a channel count or a value the model cannot take is refused
with one line naming the file. A reader may accept fewer frames than the model's (`frames_at_most`): the first
frames of videos to continue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from chainrule.errors import InputError

GIF = ".gif"
CONTAINERS = (".mp4", ".mkv", ".webm", ".avi", ".mov")  # read through PyAV (FFmpeg), `chainrule[video]`
VIDEO_FILES = (GIF, *CONTAINERS)


def is_video_path(path: Path) -> bool:
    """A GIF or video file, or a folder holding them."""
    if path.is_file():
        return path.suffix.lower() in VIDEO_FILES
    return path.is_dir() and any(p.suffix.lower() in VIDEO_FILES for p in path.iterdir())


def read_container(path: Path, channels: int, levels: int) -> np.ndarray:
    """The frames of a video file (MP4, Matroska, WebM, AVI, QuickTime) decoded by FFmpeg through PyAV: uint8
    (T, C, H, W) at `levels` levels (C = 1 grey, 3 RGB).

    Raises:
        InputError: without PyAV, or a file FFmpeg cannot decode."""
    try:
        import av
    except ImportError:
        raise InputError(
            f"{path}: reading {path.suffix} files needs PyAV: pip install av (or 'chainrule[video]')"
        ) from None
    try:
        with av.open(str(path)) as container:
            fmt = "gray" if channels == 1 else "rgb24"
            frames = [frame.to_ndarray(format=fmt) for frame in container.decode(video=0)]
    except (av.error.FFmpegError, ValueError, IndexError) as err:
        raise InputError(f"{path} is not a readable video ({err.__class__.__name__})") from None
    if not frames:
        raise InputError(f"{path} holds no video frames")
    array = np.stack(frames)
    array = array[:, None] if channels == 1 else array.transpose(0, 3, 1, 2)
    return (array.astype(np.int64) * levels // 256).astype(np.uint8 if levels <= 256 else np.int32)


def read_gif(path: Path, channels: int, levels: int) -> np.ndarray:
    """The frames of an animated GIF: uint8 (T, C, H, W) at `levels` levels (C = 1 grey, 3 RGB)."""
    try:
        with Image.open(path) as image:
            mode = "L" if channels == 1 else "RGB"
            frames = [np.asarray(frame.convert(mode)) for frame in ImageSequence.Iterator(image)]
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise InputError(f"{path} is not a readable GIF ({err.__class__.__name__})") from None
    array = np.stack(frames)
    array = array[:, None] if channels == 1 else array.transpose(0, 3, 1, 2)
    return (array.astype(np.int64) * levels // 256).astype(np.uint8 if levels <= 256 else np.int32)


def layout(array: np.ndarray, channels: int, height: int, width: int, what: str) -> np.ndarray:
    """(N, T, H, W), (N, T, H, W, C) or (N, T, C, H, W) → (N, T, C, H, W).

    Raises:
        InputError: for any other shape."""
    if array.ndim == 4 and channels == 1 and array.shape[2:] == (height, width):
        return array[:, :, None]
    if array.ndim == 5 and array.shape[2:] == (channels, height, width):
        return array
    if array.ndim == 5 and array.shape[2:] == (height, width, channels):
        return array.transpose(0, 1, 4, 2, 3)
    raise InputError(
        f"{what} holds an array of shape {array.shape}; this model takes videos (N, T, {height}, {width}) or "
        f"(N, T, {channels}, {height}, {width}) / (N, T, {height}, {width}, {channels})"
    )


def read_videos(
    path: Path, shape: tuple[int, ...], levels: int, frames_at_most: bool = False
) -> tuple[np.ndarray, dict]:
    """The videos of `path` for a model of `shape` (T, C, H, W) at `levels`: integer (N, T', C, H, W) with T' = T,
    or 1 ≤ T' ≤ T when `frames_at_most`; and the facts to write them back.

    Raises:
        InputError, DataFormatError: an unreadable file, a shape, frame count or values the model cannot take."""
    from chainrule.data.inputs import check_levels, load_numpy

    frames, channels, height, width = shape
    if path.suffix.lower() in (".npy", ".npz"):
        array = load_numpy(path)
        if array.dtype.kind not in "iub":
            raise InputError(f"{path}: need an integer array of videos, got {array.dtype}")
        videos, extra = layout(array, channels, height, width, str(path)), {"kind": "npy", "shape": list(array.shape)}
        extra["dtype"] = array.dtype.str
    elif is_video_path(path):
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix.lower() in VIDEO_FILES)
        clips = [
            read_gif(f, channels, levels) if f.suffix.lower() == GIF else read_container(f, channels, levels)
            for f in files
        ]
        for f, clip in zip(files, clips, strict=True):
            if clip.shape[1:] != (channels, height, width):
                raise InputError(f"{f}: frames of {clip.shape[3]}x{clip.shape[2]}; this model takes {width}x{height}")
        if len({len(c) for c in clips}) > 1:
            raise InputError(f"{path}: the GIF files hold different numbers of frames")
        videos = np.stack(clips)
        extra = {"kind": "video-files", "names": [f.name for f in files]}
    else:
        raise InputError(f"{path}: a video model reads .npy / .npz arrays, GIF or MP4 files, or a folder of them")
    if not len(videos):
        raise InputError(f"{path} holds no videos")
    given = videos.shape[1]
    if given > frames or given < 1 or (given != frames and not frames_at_most):
        wanted = f"1 to {frames}" if frames_at_most else str(frames)
        raise InputError(f"{path} holds videos of {given} frames; this model takes {wanted}")
    import torch

    check_levels(torch.from_numpy(np.ascontiguousarray(videos).astype(np.int64)), levels, str(path))
    return videos, extra
