"""Image-to-image benchmark (`chainrule bench upscale RUN --unconditional RUN`): a model trained with `--condition
lowres:F` or `grey` against an unconditional model of the same data.

- the conditional and the unconditional test NLL (bits/dim, from their runs' results);
- super-resolution on test images spread over the split: PSNR and SSIM against the original of each sample (their
  mean over samples), of the mean of the samples, and of bicubic interpolation. Samples are expected to score below
  bicubic on PSNR (Dahl et al. 2017): a sample commits to one sharp explanation, where bicubic and the mean of
  samples sit between all of them, which is what PSNR rewards;
- consistency: the MSE between a sample reduced by F and the input, and the share of its values within ±1 level;
- seconds per upscaled image.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
import torch.nn.functional as F

from chainrule import serialization, zoo
from chainrule.data import Condition
from chainrule.data.conditions import ConditionTask
from chainrule.data.sources import load_run_data
from chainrule.models import load


def psnr(a: torch.Tensor, b: torch.Tensor, peak: int) -> torch.Tensor:
    """Per image (N,): PSNR in dB of b against a."""
    mse = (a.double() - b.double()).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(peak**2 / mse.clamp_min(1e-12))


def ssim(a: torch.Tensor, b: torch.Tensor, peak: int) -> torch.Tensor:
    """Per image (N,): SSIM (Wang et al. 2004: 11x11 Gaussian window, σ 1.5, K1 0.01, K2 0.03; the largest odd window
    that fits for images under 11 pixels), averaged over the valid positions and the channels."""
    a, b = a.double(), b.double()
    side = min(a.shape[-2:])
    size = min(11, side if side % 2 else side - 1)  # the largest odd window up to 11 that fits
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None].expand(a.shape[1], 1, size, size)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=a.shape[1])

    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    value = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return value.flatten(1).mean(1)


def bicubic(source: torch.Tensor, size: tuple[int, int], levels: int) -> torch.Tensor:
    up = F.interpolate(source.double(), size=size, mode="bicubic", align_corners=False)
    return up.round().clamp(0, levels - 1).long()


def test_bits(run) -> float | None:
    path = zoo.resolve(run) / "results.json"
    return float(serialization.read_json(path)["test_bpd"]) if path.is_file() else None


@torch.inference_mode()
def figures(run: str, unconditional: str | None, images: int = 32, samples: int = 4, seed: int = 0) -> dict[str, Any]:
    """Every figure of the module docstring for the conditional model in `run`."""
    directory = zoo.resolve(run)
    spec = serialization.read_json(directory / "run.json")["data"]
    task = ConditionTask.parse(spec["condition"])
    out: dict[str, Any] = {"task": str(task), "data": spec["name"], "conditional_bpd": test_bits(directory)}
    if unconditional:
        out["unconditional_bpd"] = test_bits(unconditional)
    if task.name != "lowres":
        return out
    model = load(directory).eval()
    levels, peak = model.levels, model.levels - 1
    test = load_run_data(spec)["test"]
    pick = torch.linspace(0, len(test) - 1, min(images, len(test))).long()
    x, maps = test.x[pick], test.maps[pick]
    source = task.source(x, levels)
    start = time.perf_counter()
    drawn = model.sample(
        len(x) * samples, cond=Condition(map=maps.repeat_interleave(samples, 0)),
        generator=torch.Generator().manual_seed(seed),
    ).view(len(x), samples, *x.shape[1:])  # fmt: skip
    out["seconds_per_image"] = (time.perf_counter() - start) / (len(x) * samples)
    originals = x[:, None].expand_as(drawn).reshape(-1, *x.shape[1:])
    flat = drawn.reshape(-1, *x.shape[1:])
    mean = drawn.double().mean(1).round().long()
    cubic = bicubic(source, tuple(x.shape[2:]), levels)
    out.update(
        images=len(x),
        samples=samples,
        sample_psnr=float(psnr(originals, flat, peak).mean()),
        sample_ssim=float(ssim(originals, flat, peak).mean()),
        mean_psnr=float(psnr(x, mean, peak).mean()),
        mean_ssim=float(ssim(x, mean, peak).mean()),
        bicubic_psnr=float(psnr(x, cubic, peak).mean()),
        bicubic_ssim=float(ssim(x, cubic, peak).mean()),
    )
    reduced = task.source(flat, levels)  # each sample downsampled as the input was made
    given = source[:, None].expand(-1, samples, -1, -1, -1).reshape_as(reduced)
    out["consistency_mse"] = float((reduced - given).double().pow(2).mean())
    out["consistency_within_1"] = float(((reduced - given).abs() <= 1).double().mean())
    out["bicubic_consistency_mse"] = float((task.source(cubic, levels) - source).double().pow(2).mean())
    out["pixels"] = math.prod(x.shape[1:])
    return out
