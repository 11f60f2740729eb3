"""Video benchmark: the seconds a trained Video Pixel Network takes to predict frames given the first ones (the
protocol's 10 of 20), cached (the layers' own steps, the given frames filed at once) against the naive sampler (one
full pass per predicted value), and the latent route (a prior over a VQ-VAE's codes of the frames) at the same
number of predicted frames.

The naive sampler at 64x64 takes hours (40,960 full passes of the whole network for 10 frames); its time is
estimated as the predicted values x the median time of that many full passes (every naive step is the same full
pass), as `bench.sampling` does for the paper presets.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import torch

from chainrule import zoo
from chainrule.cli.common import run_data
from chainrule.errors import InputError
from chainrule.models import codes, load


def median_each(works: list, repeats: int) -> list[float]:
    """The median seconds of each work(seed) over `repeats` rounds, the works taking turns within a round (so that
    a machine whose speed drifts slows all of them alike: their ratios hold)."""
    times: list[list[float]] = [[] for _ in works]
    for seed in range(repeats):
        for work, spent in zip(works, times, strict=True):
            start = time.perf_counter()
            work(seed)
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


@torch.inference_mode()
def naive_estimate(model, x: torch.Tensor, predicted: int, passes: int) -> float:
    times = []
    for _ in range(passes + 1):  # the first pass warms up
        start = time.perf_counter()
        model.next_log_probs(x, None, model.dims - 1)
        times.append(time.perf_counter() - start)
    return predicted * statistics.median(times[1:])


def measure(
    run_dir: str, given: int, n: int = 1, repeats: int = 3, passes: int = 3, prior: str | None = None
) -> dict[str, Any]:
    """{"seconds": cached seconds per video, "naive_seconds": estimated, "speedup", "frames": predicted per video,
    and with `prior`: "latent_seconds" per video at the same predicted frames, "latent_speedup"}."""
    model = load(run_dir)
    frames = model.shape[0]
    x = run_data(run_dir, "test").x[:n]
    known = x.clone()
    known[:, given:] = -1

    def cached(seed: int) -> None:
        model.sample(n, known=known, generator=torch.Generator().manual_seed(seed))

    works = [cached] if prior is None else [cached, latent_route(prior, x, model.levels, given)]
    seconds, *route = (t / n for t in median_each(works, repeats))
    predicted = (frames - given) * model.frame_dims
    naive = naive_estimate(model, x, predicted, passes) / n
    out = {"seconds": seconds, "naive_seconds": naive, "speedup": naive / seconds, "frames": frames - given}
    out.update(parameters=sum(p.numel() for p in model.parameters()), shape=tuple(model.shape), levels=model.levels)
    if route:
        out.update(latent_seconds=route[0], latent_speedup=seconds / route[0], code_shape=tuple(load(prior).shape))
    return out


def latent_route(prior_run: str | Path, videos: torch.Tensor, levels: int, given: int):
    """The whole latent route from the given frames to the predicted ones, as the VPN's figure counts it: encode
    the first `given` frames of each video (n, T, C, H, W) at `levels` with the prior's VQ-VAE, complete the code
    video given their codes, decode the predicted frames. Returns it as work(seed)."""
    prior_run = zoo.resolve(prior_run)
    prior = load(prior_run)
    vqvae, _ = codes.decoder_of(prior_run)
    _, h, w = vqvae.code_shapes[0]
    n, frames = videos.shape[:2]
    if levels != vqvae.levels:  # the same videos at the VQ-VAE's levels (binarized ones as black and white)
        videos = videos * (vqvae.levels - 1) // (levels - 1)
    rows = prior.shape[1]
    if rows != frames * h:
        raise InputError(f"the prior models {rows // h} frames of codes; the videos have {frames}")

    @torch.inference_mode()
    def run(seed: int) -> None:
        shown = videos[:, :given].flatten(0, 1)  # (n·given, C, H, W)
        known = torch.full((n, 1, rows, w), -1, dtype=torch.long)
        known[:, :, : given * h] = vqvae.encode(shown)[0].view(n, given, h, w).reshape(n, 1, given * h, w)
        done = prior.sample(n, known=known, generator=torch.Generator().manual_seed(seed))
        later = done[:, 0, given * h :].reshape(n * (frames - given), 1, h, w)
        vqvae.decode([later]).view(n, frames - given, *videos.shape[2:])

    return run
