"""What the web app does, without the web: each operation takes a served model and plain values and returns plain
values (PNG and WAV files as bytes, figures as numbers), so that it can be tested and reused apart from HTTP.

Inputs from the browser are never paths: uploaded bytes are written to a private temporary file named by the
kind's extension and read with the CLI's checked readers (`data.inputs.read_input`), so an upload is refused
with the same one-line message the CLI gives.
"""

from __future__ import annotations

import bz2
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from chainrule import zoo
from chainrule.coding import codec
from chainrule.data.audio import write_wav
from chainrule.data.condition import Condition
from chainrule.data.conditions import ConditionTask
from chainrule.data.inputs import read_arrays, read_input
from chainrule.data.mulaw import decode as mulaw_decode
from chainrule.errors import ChainruleError, InputError
from chainrule.lossless import png as png_size
from chainrule.media.bitmaps import characters, heat
from chainrule.media.images import image_grid, png_bytes
from chainrule.models import AutoregressiveModel, codes, load
from chainrule.sampling import complete, default_particles, generate, sample_cached
from chainrule.scoring.scores import dimension_bits, validation_bits
from chainrule.train import run_info

MAX_UPLOAD = 4 * 1024 * 1024  # bytes of one uploaded file
MAX_IMAGES = 64  # samples per request
MAX_COMPLETIONS = 8
MAX_TOKENS = 2000  # characters of one text continuation
MAX_SECONDS = 5.0  # seconds of generated audio
MAX_TEXT = 20_000  # characters of a pasted text
UPLOAD_SUFFIXES = {"image": (".png", ".npy"), "text": (".txt",), "audio": (".wav",)}


@dataclass
class Served:
    """A model the app serves: `name` as the user gave it (a run directory or zoo:NAME), its `kind` ("image",
    "codes", "text" or "audio") and the `tasks` its page offers."""

    name: str
    model: AutoregressiveModel
    run: Path
    kind: str
    tasks: tuple[str, ...]
    examples: Tensor | None = None  # a few test images, for completion, the bits map and image-to-image
    task: ConditionTask | None = None  # what an image-to-image model is given (lowres:F or grey)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        model = self.model
        facts: dict[str, Any] = {
            "name": self.name,
            "family": model.registry_name,
            "kind": self.kind,
            "tasks": list(self.tasks),
            "shape": list(model.shape),
            "levels": model.levels,
            "classes": model.num_classes,
            "examples": 0 if self.examples is None else len(self.examples),
        }
        if self.kind == "audio":
            facts["rate"] = model.data_kind.rate
        if self.task is not None:
            facts["task"] = str(self.task)
            facts["source_shape"] = list(self.task.source_shape(tuple(model.shape)))
        return facts


def kind_of(model: AutoregressiveModel) -> str:
    """The page a model gets, from its data kind.

    Raises:
        InputError: a model the app cannot show (videos, image-to-image models, priors over two-level codes)."""
    kind = model.data_kind
    if kind.is_text:
        return "text"
    if kind.is_audio:
        return "audio"
    if kind.is_video:
        raise InputError(f"the app does not show video models yet ({model.registry_name}): use chainrule sample")
    if model.map_shape and not model.map_levels and not kind.is_codes:
        return "convert"  # image-to-image: upscale or colourise
    if model.map_shape:
        raise InputError("the app does not show a prior over bottom codes yet: use chainrule sample --top")
    return "codes" if kind.is_codes else "image"


TASKS = {
    "image": ("sample", "complete", "bits", "score", "compress"),
    "codes": ("sample",),
    "text": ("continue", "text-bits", "score", "compress"),
    "audio": ("audio", "score", "compress"),
    "convert": ("convert",),
}


def serve(spec: str, device: str = "cpu") -> Served:
    """Load a run or zoo model for the app.

    Raises:
        ChainruleError: a missing run, or a model the app cannot show (`kind_of`)."""
    run = zoo.resolve(spec)
    model = load(run, device)
    if not isinstance(model, AutoregressiveModel):
        raise InputError(f"{spec} holds a {model.registry_name}: serve a prior over its codes")
    model.eval()
    kind = kind_of(model)
    if kind == "codes" and codes.decoder_of(run)[0].config.hierarchy != 1:
        raise InputError(f"{spec} models one grid of a two-level VQ-VAE: the app shows one-level priors only")
    examples, task = None, None
    if kind in ("image", "convert") and (run / "run.json").is_file():  # the run's own test split, as trained
        spec_data = run_info(run)["data"]
        if kind == "convert":
            if not spec_data.get("condition"):
                raise InputError(f"{spec} reads a conditioning image but its run records no --condition")
            task = ConditionTask.parse(spec_data["condition"])
            spec_data = {k: v for k, v in spec_data.items() if k != "condition"}  # the images themselves
        examples = codes.run_data(spec_data, run=run, only=("test",))["test"].x[:16]
    elif kind == "convert":
        raise InputError(f"{spec} reads a conditioning image but has no run.json saying which (lowres:F or grey)")
    return Served(spec, model, run, kind, TASKS[kind], examples, task)


# --- images ---------------------------------------------------------------------------------------------------


def grid_png(x: Tensor, levels: int, columns: int | None = None, missing: Tensor | None = None) -> bytes:
    """Images long (B, C, H, W) as one PNG grid, enlarged so that small images are visible."""
    scale = max(1, min(4, 112 // max(x.shape[-2:])))
    return png_bytes(image_grid(x, levels, columns, pad=1, missing=missing), scale)


def image_png(x: Tensor, levels: int) -> bytes:
    """One image long (C, H, W) as a PNG at its own size (no padding, no enlarging)."""
    return png_bytes(image_grid(x[None], levels, 1, pad=0))


def check_count(value: int, most: int, what: str) -> int:
    if not 1 <= value <= most:
        raise InputError(f"{what} must be 1..{most}")
    return value


def seeded(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) if seed is not None else int(time.time_ns() % 2**31))


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
    show = (lambda x: decoded(served, x)) if served.kind == "codes" else (lambda x: (x, model.levels))

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


def decoded(served: Served, x: Tensor) -> tuple[Tensor, int]:
    return codes.decode_samples(served.run, x)


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


# --- text and audio ---------------------------------------------------------------------------------------------


class Stopped(Exception):
    """The reader of a stream went away: the work ends at its next step."""


DONE = object()


def streamed(work: Callable[[Callable[[Any], None], threading.Event], None]) -> Iterator[Any]:
    """Run `work(emit, stop)` on a worker thread and yield what it emits as it comes. When the reader stops early
    (the generator is closed: a client that went away), `stop` is set, the work raises `Stopped` at its next
    check, and the thread is joined before the generator returns: the model is never left running unseen. An
    exception of the work is raised in the reader."""
    import queue

    out: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            work(out.put, stop)
        except Stopped:
            pass
        except Exception as err:  # reported to the reader, who is waiting on the queue
            out.put(err)
        out.put(DONE)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


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


def stream_text(
    served: Served, prompt: str, length: int, temperature: float = 1.0, seed: int | None = None
) -> Iterator[str]:
    """Continue `prompt` by `length` tokens, yielding the text as it is drawn (whole UTF-8 characters)."""
    model = served.model
    check_count(length, MAX_TOKENS, "the length")
    vocabulary = model.vocabulary
    tokens = vocabulary.encode(prompt, "the prompt")

    def work(emit, stop: threading.Event) -> None:
        pending = bytearray()

        def on_token(token: int) -> None:
            if stop.is_set():
                raise Stopped
            if not vocabulary.is_bytes:
                emit(vocabulary.decode([token]))
                return
            pending.append(token)
            try:
                text = pending.decode("utf-8")
            except UnicodeDecodeError:
                if len(pending) < 4:
                    return
                text = pending.decode("utf-8", errors="replace")
            pending.clear()
            emit(text)

        with torch.inference_mode():
            generate(model, tokens, length, temperature=temperature, generator=seeded(seed), on_token=on_token)

    return streamed(work)


def text_bits(served: Served, text: str) -> dict[str, Any]:
    """The bits of each character of `text` under the model."""
    if not text:
        raise InputError("paste some text first")
    if len(text) > MAX_TEXT:
        raise InputError(f"the text has {len(text):,} characters; the app scores at most {MAX_TEXT:,}")
    vocabulary = served.model.vocabulary
    tokens = vocabulary.encode(text, "the text")
    with torch.inference_mode():
        bits = dimension_bits(served.model, [tokens])[0]
    pairs = characters(tokens, bits, vocabulary)
    return {"characters": [[c, b] for c, b in pairs], "bits_per_char": float(bits.sum()) / max(1, len(pairs))}


def generate_audio(served: Served, seconds: float, temperature: float = 1.0, seed: int | None = None) -> bytes:
    """`seconds` of audio drawn by the model, as a WAV file's bytes."""
    if not 0 < seconds <= MAX_SECONDS:
        raise InputError(f"seconds must be in (0, {MAX_SECONDS:g}]")
    model = served.model
    rate, encoding = model.data_kind.rate, model.data_kind.encoding
    with torch.inference_mode():
        new = generate(model, torch.zeros(0, dtype=torch.long), int(seconds * rate), temperature, None, seeded(seed))
    with tempfile.TemporaryDirectory(prefix="chainrule-audio-") as folder:
        path = Path(folder) / "generated.wav"
        write_wav(path, mulaw_decode(new, encoding), rate)
        return path.read_bytes()


# --- any model ----------------------------------------------------------------------------------------------------


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
