"""Sampling benchmark: seconds to draw n images, naive (one full pass per sub-pixel) vs cached, same model and
random stream, medians of repeats. Untrained weights: the cost of generation does not depend on them.

Naive sampling at a paper preset takes hours on a CPU (784 or 3,072 full passes); with `naive_passes` the naive
time is estimated as the number of sub-pixels x the median time of that many full passes (every naive step is
the same full pass, so the estimate leaves out only the draws themselves, which the cached path pays as well)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from chainrule.models import MODELS, create, preset_hparams

SHAPES = {"28x28": ((1, 28, 28), 256), "32x32x3": ((3, 32, 32), 256)}

# named cases (issue 22's two architectures, binary 28x28, 4 samples): model, shape, levels, hyper-parameters, n
CASES: dict[str, tuple[str, tuple[int, int, int], int, dict[str, Any], int]] = {
    "gated-pixelcnn-11x128": (
        "gated-pixelcnn",
        (1, 28, 28),
        2,
        dict(channels=128, layers=11, kernel=3, first_kernel=7, hidden=32),
        4,
    ),
    "pixelsnail-8x64": (
        "pixelsnail",
        (1, 28, 28),
        2,
        dict(channels=64, blocks=8, resnets=2, heads=1, key_channels=4, value_channels=32),
        4,
    ),
}


def seconds(model, n: int, cache: bool, repeats: int) -> float:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        model.sample(n, generator=torch.Generator().manual_seed(seed), cache=cache)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@torch.inference_mode()
def naive_estimate(model, n: int, passes: int) -> float:
    """Sub-pixels x the median seconds of one full pass at batch n (what each naive step runs)."""
    x = torch.zeros(n, *model.shape, dtype=torch.long)
    times = []
    for _ in range(passes + 1):  # the first pass warms up
        start = time.perf_counter()
        model.next_log_probs(x, None, model.dims // 2)
        times.append(time.perf_counter() - start)
    return model.dims * statistics.median(times[1:])


def measure(
    model_name: str, preset: str, shape_name: str, n: int = 16, repeats: int = 3, naive_passes: int = 0
) -> dict[str, Any]:
    """Naive and cached seconds for `n` samples of `model_name` at `preset` on images of `shape_name` (naive
    estimated from `naive_passes` full passes when > 0)."""
    shape, levels = SHAPES[shape_name]
    hparams = preset_hparams(model_name, preset, shape)
    torch.manual_seed(0)
    model = create(model_name, shape=shape, levels=levels, **hparams).eval()
    row: dict[str, Any] = {"model": model_name, "preset": preset, "shape": shape_name, "n": n}
    row["parameters"] = sum(p.numel() for p in model.parameters())
    row["naive_estimated"] = naive_passes > 0
    row["naive_s"] = naive_estimate(model, n, naive_passes) if naive_passes else seconds(model, n, False, repeats)
    row["cached_s"] = seconds(model, n, True, repeats)
    row["speedup"] = row["naive_s"] / row["cached_s"]
    return row


def measure_case(name: str, repeats: int = 3, naive_repeats: int = 1) -> dict[str, Any]:
    """A named case: naive and cached seconds, the seconds per step and the arithmetic rate a step reaches
    (2 x weights x n FLOPs per step: every weight of a convolutional network is used once per position)."""
    model_name, shape, levels, hparams, n = CASES[name]
    torch.manual_seed(0)
    model = create(model_name, shape=shape, levels=levels, **hparams).eval()
    row: dict[str, Any] = {"case": name, "model": model_name, "n": n, "naive_estimated": False}
    row["parameters"] = sum(p.numel() for p in model.parameters())
    row["cached_s"] = seconds(model, n, True, repeats)
    row["naive_s"] = seconds(model, n, False, naive_repeats)
    row["speedup"] = row["naive_s"] / row["cached_s"]
    row["step_us"] = 1e6 * row["cached_s"] / model.dims
    row["step_gflops"] = 2 * row["parameters"] * n / (row["step_us"] * 1e3)
    return row


def image_models() -> list[str]:
    return [name for name in MODELS.names() if MODELS.get(name).kind in ("image", "any")]
