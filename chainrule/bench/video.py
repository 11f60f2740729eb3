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
from typing import Any

import torch

from chainrule.cli.common import run_data
from chainrule.models import codes, load


def median_seconds(work, repeats: int) -> float:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        work(seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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

    seconds = median_seconds(cached, repeats) / n
    predicted = (frames - given) * model.frame_dims
    naive = naive_estimate(model, x, predicted, passes) / n
    out = {"seconds": seconds, "naive_seconds": naive, "speedup": naive / seconds, "frames": frames - given}
    out.update(parameters=sum(p.numel() for p in model.parameters()), shape=tuple(model.shape), levels=model.levels)
    if prior is not None:
        out.update(latent(prior, given, n, repeats, seconds))
    return out


@torch.inference_mode()
def latent(prior_run: str, given: int, n: int, repeats: int, vpn_seconds: float) -> dict[str, Any]:
    """The prior over video codes: complete the codes of the later frames given those of the first `given`, and
    decode every frame (what a prediction through the latent route costs)."""
    prior = load(prior_run)
    vqvae, _ = codes.decoder_of(prior_run)
    h = vqvae.code_shapes[0][1]
    grids = codes.code_splits("", prior_run, only=("test",), progress=False)["test"].x[:n]
    known = grids.clone()
    known[:, :, given * h :] = -1

    def run(seed: int) -> None:
        done = prior.sample(n, known=known, generator=torch.Generator().manual_seed(seed))
        codes.decode_samples(prior_run, done)

    seconds = median_seconds(run, repeats) / n
    return {"latent_seconds": seconds, "latent_speedup": vpn_seconds / seconds, "code_shape": tuple(prior.shape)}
