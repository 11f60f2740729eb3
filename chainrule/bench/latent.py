"""Latent-model benchmark (`chainrule bench latent PRIOR_RUN`): what a VQ-VAE and a prior over its codes give.

- reconstruction: PSNR (8-bit) of the VQ-VAE on the test images, and the codebook's use on them and over up to
  2,000 images of the training and test splits (share of the K codes used, perplexity) with the dead codes of its
  moving averages;
- the prior: test NLL in bits per code, and what that is per pixel (bits per code x codes / pixels);
- generation: seconds to draw n images (codes, then decoding) against a pixel-level model of the same family with
  about as many weights (untrained: its speed does not depend on its weights), with the time per step of each;
- rate-distortion: `compress --lossy` on test images (bits per pixel, header included, all images in one file)
  against JPEG, WebP and JPEG XL (`cjxl`, where installed) at matched PSNR: for each image the smallest quality
  whose PSNR reaches the VQ-VAE's, each image in its own file (what a user of those formats stores).

A prior over the bottom codes of a two-level VQ-VAE is measured with its top prior (`top`): bits per pixel of both
grids, the lossy file of both, samples drawn top then bottom. Class-conditional priors are given the test images'
classes (stored in the lossy file) and draw their samples over the classes in turn.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from chainrule import serialization, zoo
from chainrule.coding import lossy
from chainrule.data.condition import Condition
from chainrule.errors import InputError
from chainrule.models import codes, create, load
from chainrule.nn.quantizer import perplexity

QUALITIES = range(1, 101)
JXL_QUALITIES = range(5, 101)  # cjxl 0.7 refuses -q below 5 (a distance above 25)


def psnr(a: np.ndarray, b: np.ndarray, peak: int = 255) -> float:
    error = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * math.log10(peak**2 / error) if error else math.inf


def classic_formats() -> tuple[str, ...]:
    """The lossy formats compared: JPEG and WebP (Pillow), JPEG XL where `cjxl` and `djxl` are installed."""
    return ("JPEG", "WEBP") + (("JXL",) if shutil.which("cjxl") and shutil.which("djxl") else ())


def jxl_size(picture: Image.Image, quality: int) -> tuple[int, np.ndarray]:
    """Bytes of one picture in JPEG XL at `quality` (cjxl -q, effort 7), and what djxl decodes it to."""
    with tempfile.TemporaryDirectory() as tmp:
        src, out, back = Path(tmp, "in.png"), Path(tmp, "out.jxl"), Path(tmp, "back.png")
        picture.save(src)
        for command in (["cjxl", src, out, "-q", str(quality), "--quiet"], ["djxl", out, back, "--quiet"]):
            subprocess.run(command, check=True, capture_output=True)
        with Image.open(back) as decoded:
            return out.stat().st_size, np.asarray(decoded.convert(picture.mode))


def classic_size(image: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    """Bytes of one (C, H, W) uint8 image in JPEG, WebP or JPEG XL ("JXL") at `quality`, and what it decodes to."""
    picture = Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))
    if fmt == "JXL":
        size, decoded = jxl_size(picture, quality)
        return size, decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as back:
        decoded = np.asarray(back.convert(picture.mode))
    decoded = decoded[None] if decoded.ndim == 2 else decoded.transpose(2, 0, 1)
    return len(buffer.getvalue()), decoded


def matched(image: np.ndarray, target: float, fmt: str, peak: int = 255) -> tuple[int, float]:
    """The smallest file of `fmt` whose PSNR reaches `target` (bytes, its PSNR); the best quality if none does."""
    qualities = JXL_QUALITIES if fmt == "JXL" else QUALITIES
    low, high = qualities[0], qualities[-1]
    best = classic_size(image, fmt, high)
    if psnr(image, best[1], peak) < target:
        return best[0], psnr(image, best[1], peak)
    while low < high:  # PSNR grows with quality (near enough for a bisection)
        middle = (low + high) // 2
        size, decoded = classic_size(image, fmt, middle)
        if psnr(image, decoded, peak) >= target:
            high, best = middle, (size, decoded)
        else:
            low = middle + 1
    size, decoded = classic_size(image, fmt, high)
    return size, psnr(image, decoded, peak)


def split_images(prior_run: Path, split: str, limit: int) -> torch.Tensor:
    """Images of a split of the data the VQ-VAE behind a prior was trained on: long (≤ limit, C, H, W), spread over
    the split."""
    x = codes.image_split(prior_run, split).x
    return x[torch.linspace(0, len(x) - 1, min(limit, len(x))).long()] if len(x) > limit else x


def usage(vqvae, images: torch.Tensor) -> tuple[float, float]:
    """The share of the K codes the bottom grids of `images` use, and their perplexity."""
    counts = sum(
        torch.bincount(vqvae.encode(images[i : i + 256])[-1].flatten(), minlength=vqvae.config.codes)
        for i in range(0, len(images), 256)
    )
    return float((counts > 0).double().mean()), perplexity(counts)


def pixel_twin(prior, image_shape: tuple[int, ...], levels: int):
    """A pixel-level model of the prior's family over the images, with about the prior's number of weights."""
    hparams = {k: v for k, v in vars(prior.config).items() if k not in ("shape", "levels", "embed")}
    hparams = {k: v for k, v in hparams.items() if not k.startswith("map_")}
    target = sum(p.numel() for p in prior.parameters())
    best = None
    for scale in np.linspace(0.5, 2.0, 31):  # widen or narrow the feature widths to match the weights
        trial = dict(hparams)
        for name in ("channels", "hidden"):
            if name in trial:
                trial[name] = max(image_shape[0], int(round(trial[name] * scale / image_shape[0])) * image_shape[0])
        model = create(prior.registry_name, shape=image_shape, levels=levels, **trial)
        count = sum(p.numel() for p in model.parameters())
        if best is None or abs(count - target) < abs(best[1] - target):
            best = (model, count)
    return best[0].eval()


def timed_sample(model, n: int, seed: int) -> tuple[float, int]:
    start = time.perf_counter()
    model.sample(n, generator=torch.Generator().manual_seed(seed))
    return time.perf_counter() - start, model.dims


def priors_of(prior_dir: str, top: str | None) -> tuple[list, Path]:
    """The priors (top first) of a prior's run and, for a bottom prior, of its `top` run.

    Raises:
        InputError: a bottom prior without its top prior, or a top prior of another VQ-VAE."""
    run = zoo.resolve(prior_dir)
    prior = load(run).eval()
    if not prior.map_shape:
        return [prior], run
    if top is None:
        raise InputError(f"{prior_dir} models the bottom codes of a VQ-VAE-2: name its top codes' prior with --top")
    if not codes.same_decoder(run, zoo.resolve(top)):
        raise InputError(f"{top} and {prior_dir} are priors of different VQ-VAEs")
    return [load(zoo.resolve(top)).eval(), prior], run


def draw(priors: list, n: int, generator: torch.Generator) -> list[torch.Tensor]:
    """n draws of every grid, top first (class-conditional priors: the classes in turn)."""
    classes = torch.arange(n) % priors[0].num_classes if priors[0].num_classes else None
    grids: list[torch.Tensor] = []
    for prior in priors:
        cond = None if classes is None and not grids else Condition(classes=classes, map=grids[-1] if grids else None)
        grids.append(prior.sample(n, cond=cond, generator=generator))
    return grids


@torch.inference_mode()
def figures(
    prior_dir: str, limit: int = 64, samples: int = 16, pixel: bool = True, seed: int = 0, top: str | None = None
) -> dict[str, Any]:
    """Every figure of the module docstring for the prior in `prior_dir` (a run or zoo:NAME; a bottom prior with
    its `top` prior)."""
    priors, run = priors_of(prior_dir, top)
    prior = priors[-1]
    vqvae, _ = codes.decoder_of(run)
    split = codes.image_split(run, "test")
    index = torch.linspace(0, len(split.x) - 1, min(limit, len(split.x))).long()
    images = split.x[index]
    classes = split.labels[index] if prior.num_classes else None
    grids = vqvae.encode(images)
    back = vqvae.decode(grids).numpy().astype(np.uint8)
    original = images.numpy().astype(np.uint8)
    peak = vqvae.levels - 1
    counts = torch.bincount(grids[-1].flatten(), minlength=vqvae.config.codes)
    out: dict[str, Any] = {
        "images": len(images),
        "image_shape": list(vqvae.shape),
        "code_shape": [list(p.shape) for p in priors] if len(priors) > 1 else list(prior.shape),
        "codes": vqvae.config.codes,
        "vqvae_parameters": sum(p.numel() for p in vqvae.parameters()),
        "prior_parameters": sum(p.numel() for p in prior.parameters()),
        "psnr": psnr(original, back, peak),
        "usage": float((counts > 0).double().mean()),
        "perplexity": perplexity(counts),
        "dead": vqvae.quantizers[-1].dead_codes(),
    }
    for split in ("train", "test"):  # the codebook's use over (up to 2,000 images of) whole splits
        out[f"{split}_usage"], out[f"{split}_perplexity"] = usage(vqvae, split_images(run, split, 2000))
    pixels = math.prod(vqvae.shape[1:])
    runs = [zoo.resolve(top), run] if len(priors) > 1 else [run]
    results = [r / "results.json" for r in runs]
    if all(r.is_file() for r in results):
        bits = [float(serialization.read_json(r)["test_bpd"]) for r in results]
        out["prior_bits_per_code"] = bits if len(bits) > 1 else bits[0]
        out["prior_bits_per_pixel"] = sum(b * p.dims for b, p in zip(bits, priors, strict=True)) / pixels
    # rate-distortion
    blob = lossy.compress(priors, vqvae, images, classes=classes)
    out["lossy_bpp"] = 8 * len(blob) / (len(images) * pixels)
    per_image = [psnr(o, b, peak) for o, b in zip(original, back, strict=True)]
    for fmt in classic_formats():
        pairs = [matched(o, t, fmt, peak) for o, t in zip(original, per_image, strict=True)]
        sizes, qualities = zip(*pairs, strict=True)
        out[f"{fmt.lower()}_bpp"] = 8 * sum(sizes) / (len(images) * pixels)
        out[f"{fmt.lower()}_psnr"] = float(np.mean(qualities))
    out["lossy_psnr_mean"] = float(np.mean(per_image))
    # generation
    start = time.perf_counter()  # one draw, timed with and without its decoding
    drawn = draw(priors, samples, torch.Generator().manual_seed(seed))
    sampled = time.perf_counter() - start
    vqvae.decode(drawn)
    out["latent_seconds"] = time.perf_counter() - start
    out["latent_step_ms"] = 1000 * sampled / sum(p.dims for p in priors)
    if pixel:
        twin = pixel_twin(prior, tuple(vqvae.shape), vqvae.levels)
        out["pixel_parameters"] = sum(p.numel() for p in twin.parameters())
        seconds, steps = timed_sample(twin, samples, seed)
        out["pixel_seconds"], out["pixel_step_ms"] = seconds, 1000 * seconds / steps
        out["speedup"] = out["pixel_seconds"] / out["latent_seconds"]
    return out
