"""The app's image pages: samples (streamed as partial grids), completion of a painted region, the bits of each
pixel, and image-to-image drawing (upscale, colourise). Images go out as PNG bytes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from chainrule.app.served import MAX_COMPLETIONS, MAX_IMAGES, Served, check_count, seeded
from chainrule.app.streams import Stopped, streamed
from chainrule.data.condition import Condition
from chainrule.errors import InputError
from chainrule.media.bitmaps import heat
from chainrule.media.images import image_grid, png_bytes
from chainrule.models import codes
from chainrule.sampling import complete, default_particles, sample_cached
from chainrule.scoring.scores import dimension_bits


def grid_png(x: Tensor, levels: int, columns: int | None = None, missing: Tensor | None = None) -> bytes:
    """Images long (B, C, H, W) as one PNG grid, enlarged so that small images are visible."""
    scale = max(1, min(4, 112 // max(x.shape[-2:])))
    return png_bytes(image_grid(x, levels, columns, pad=1, missing=missing), scale)


def image_png(x: Tensor, levels: int) -> bytes:
    """One image long (C, H, W) as a PNG at its own size (no padding, no enlarging)."""
    return png_bytes(image_grid(x[None], levels, 1, pad=0))


def sample_images(
    served: Served,
    n: int,
    temperature: float = 1.0,
    seed: int | None = None,
    class_id: int | None = None,
    on_partial: Callable[[bytes, float], None] | None = None,
    every: float = 0.3,
    stop: threading.Event | None = None,
) -> bytes:
    """n samples as one PNG grid; `on_partial(png, fraction done)` is called at most every `every` seconds at a
    row's end with the grid so far (unknown values still zero). Setting `stop` ends the drawing (`Stopped`) at
    its next row."""
    model = served.model
    check_count(n, MAX_IMAGES, "the number of samples")
    cond = None
    if class_id is not None:
        if not model.num_classes:
            raise InputError("this model is not class-conditional: give no class")
        if not 0 <= class_id < model.num_classes:
            raise InputError(f"the class must be 0..{model.num_classes - 1}")
        cond = torch.full((n,), class_id, dtype=torch.long)
    elif model.num_classes:
        cond = torch.arange(n) % model.num_classes  # the classes in turn
    last = [time.perf_counter()]
    row = model.row_steps if served.kind == "image" else model.dims // max(1, model.shape[-2])
    show = (lambda x: codes.decode_samples(served.run, x)) if served.kind == "codes" else (lambda x: (x, model.levels))

    def step(t: int, x: Tensor) -> None:
        if stop is not None and (t + 1) % row == 0 and stop.is_set():
            raise Stopped
        now = time.perf_counter()
        if on_partial is not None and (t + 1) % row == 0 and now - last[0] >= every and t + 1 < model.dims:
            last[0] = now
            images, levels = show(x.clone())
            on_partial(grid_png(images, levels), (t + 1) / model.dims)

    with torch.inference_mode():
        x = sample_cached(model, n, cond=cond, temperature=temperature, generator=seeded(seed), on_step=step)
    images, levels = show(x)
    return grid_png(images, levels)


def stream_samples(
    served: Served, n: int, temperature: float = 1.0, seed: int | None = None, class_id: int | None = None
) -> Iterator[dict[str, Any]]:
    """`sample_images` as a stream: {"progress", "partial": PNG bytes} at row ends, then {"image", "seconds",
    "progress": 1}."""
    check_count(n, MAX_IMAGES, "the number of samples")

    def work(emit, stop: threading.Event) -> None:
        def partial(png: bytes, done: float) -> None:
            if stop.is_set():
                raise Stopped
            emit({"progress": done, "partial": png})

        start = time.perf_counter()
        grid = sample_images(served, n, temperature, seed, class_id, on_partial=partial, stop=stop)
        emit({"image": grid, "seconds": time.perf_counter() - start, "progress": 1.0})

    return streamed(work)


def examples_png(served: Served) -> list[bytes]:
    """The test images the page offers, one PNG each at the model's size."""
    if served.examples is None:
        return []
    return [image_png(x, served.model.levels) for x in served.examples]


def complete_image(
    served: Served,
    image: Tensor,
    hidden: list[int] | np.ndarray,
    n: int = 4,
    temperature: float = 1.0,
    seed: int | None = None,
) -> dict[str, Any]:
    """`n` completions of `image` (C, H, W) with the pixels flagged in `hidden` (H·W zeros and ones, row-major)
    drawn by the model given every known pixel (`sampling.complete`); every known pixel is kept."""
    model = served.model
    check_count(n, MAX_COMPLETIONS, "the number of completions")
    c, h, w = model.shape
    mask = np.asarray(hidden, dtype=np.int64).reshape(-1)
    if mask.size != h * w or not np.isin(mask, (0, 1)).all():
        raise InputError(f"the mask must give 0 or 1 for each of the {h}x{w} pixels")
    if not mask.any():
        raise InputError("paint the region to hide first (no pixel is hidden)")
    missing = torch.from_numpy(mask.astype(bool)).view(1, 1, h, w).expand(n, c, h, w)
    known = image[None].expand(n, c, h, w).clone()
    known[missing] = -1
    start = time.perf_counter()
    with torch.inference_mode():
        done = complete(model, known, default_particles(model, known), temperature=temperature, generator=seeded(seed))
    seconds = time.perf_counter() - start
    if not torch.equal(done.x[~missing], image[None].expand(n, c, h, w)[~missing]):
        raise RuntimeError("completion changed a known pixel")  # never: complete keeps them
    levels = model.levels
    return {
        "original": image_png(image, levels),
        "masked": grid_png(image[None], levels, 1, missing=missing[:1]),
        "completions": [grid_png(x[None], levels, 1) for x in done.x],
        "values": done.x.tolist(),
        "ess": [float(e) for e in done.ess],
        "particles": done.particles,
        "seconds": seconds,
    }


def bits_map(served: Served, image: Tensor) -> dict[str, Any]:
    """The bits of each pixel of `image` (C, H, W) under the model, as a heat map beside the image."""
    model = served.model
    with torch.inference_mode():
        bits = dimension_bits(model, image[None])[0]  # (C, H, W)
    per_pixel = bits.sum(0)
    top = float(np.percentile(per_pixel.numpy(), 99)) or 1.0
    scale = max(1, min(8, 224 // max(image.shape[-2:])))
    return {
        "image": png_bytes(image_grid(image[None], model.levels, 1, pad=0), scale),
        "map": png_bytes(heat(per_pixel.numpy(), top), scale),
        "bits_per_dim": float(bits.mean()),
        "bits": float(bits.sum()),
        "top": top,
    }


def convert_image(
    served: Served, image: Tensor, n: int = 4, temperature: float = 1.0, seed: int | None = None
) -> dict[str, Any]:
    """`n` samples of an image-to-image model (super-resolution or colourisation) given `image` (C, H, W), at
    the model's input size or at its output size (then reduced first, and the original shown beside)."""
    model, task = served.model, served.task
    check_count(n, MAX_COMPLETIONS, "the number of samples")
    shape, levels = tuple(model.shape), model.levels
    sources, originals = task.prepare([image], shape, levels)
    cond = Condition(map=task.to_map(sources, levels).repeat_interleave(n, 0))
    start = time.perf_counter()
    with torch.inference_mode():
        drawn = sample_cached(model, n, cond=cond, temperature=temperature, generator=seeded(seed))
    seconds = time.perf_counter() - start
    out: dict[str, Any] = {
        "input": grid_png(task.shown(sources, shape, levels, "nearest"), levels, 1),
        "samples": [grid_png(x[None], levels, 1) for x in drawn],
        "seconds": seconds,
        "task": str(task),
    }
    if task.name == "lowres":
        out["bicubic"] = grid_png(task.shown(sources, shape, levels, "bicubic"), levels, 1)
    if originals[0] is not None:
        out["original"] = grid_png(originals[0][None], levels, 1)
    return out
