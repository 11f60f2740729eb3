"""Bits per hidden value of true test images given the rest: exact under an any-order model, estimated by
importance sampling under a model of one order (issue 33's completion table).

For a raster model, −log p(x_hidden | x_known) = −log p(x) + log p(x_known), and p(x_known) has no closed form
when known values follow hidden ones. N candidates drawn along the model's order (hidden values from their
conditionals, known values clamped) give the unbiased estimate p̂(x_known) = mean over candidates of the product
of the known values' conditionals. By Jensen, E[log p̂] ≤ log p(x_known): the estimated bits are too low on
average (optimistic for the raster model), approaching the truth as N grows. For an any-order model the figure is
a sum of conditionals along an order with the known pixels first (`scoring.hidden_bits`): exact.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from chainrule.cli.common import run_data
from chainrule.cli.complete import completion_rows
from chainrule.errors import InputError
from chainrule.media import save_grid
from chainrule.models import load
from chainrule.orders import Ordering
from chainrule.sampling import hide
from chainrule.sampling.conditionals import walk_conditionals
from chainrule.scoring import hidden_bits

MASKS = ("center", "left", "top", "random")


def log_known_estimate(model, image: torch.Tensor, hidden: torch.Tensor, particles: int, generator) -> float:
    """log p̂(x_known) of one image (flat values `image` (D,), bool `hidden` (D,)) from `particles` candidates."""
    order = model.order.tolist()
    values = image.repeat(particles, 1)
    log_w = torch.zeros(particles, dtype=torch.float64)

    def choose(t: int, log_probs: torch.Tensor) -> torch.Tensor:
        p = order[t]
        if bool(hidden[p]):
            values[:, p] = torch.multinomial(log_probs.float().exp(), 1, generator=generator)[:, 0]
        else:
            log_w.add_(log_probs.gather(1, values[:, p : p + 1])[:, 0].double())
        return values[:, p]

    walk_conditionals(model, particles, choose)
    return float(torch.logsumexp(log_w, 0)) - math.log(particles)


@torch.inference_mode()
def estimated_hidden_nats(model, x: torch.Tensor, known: torch.Tensor, particles: int, seed: int = 0) -> torch.Tensor:
    """−log p(x_hidden | x_known) estimated with `particles` candidates per image (module doc): float64 (B,)."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    log_px = model.log_prob(x).double()
    estimates = [
        log_known_estimate(model, x[b].reshape(-1), ~known[b].reshape(-1), particles, generator) for b in range(len(x))
    ]
    return -log_px + torch.tensor(estimates, dtype=torch.float64)


def pair(raster_run: str, any_run: str, n: int):
    """(any-order model, raster model, the first n test images of the any-order run's data), checked."""
    exact_model, raster = load(any_run), load(raster_run)
    if exact_model.ordering is not Ordering.ANY:
        raise InputError(f"{any_run} is not an any-order model (lmconv)")
    if raster.shape != exact_model.shape or raster.levels != exact_model.levels:
        raise InputError("the two runs must model the same data (shape and levels)")
    return exact_model, raster, run_data(any_run, "test").x[:n]


def picture(raster_run: str, any_run: str, path: str, n: int = 6, particles: int = 32, seed: int = 0) -> None:
    """A PNG of completions of n test images, one block of rows per mask (centre, top, random): the originals,
    the masked images (hidden pixels in red), the any-order model's exact completions, the raster model's with
    `particles` candidates."""
    exact_model, raster, x = pair(raster_run, any_run, n)
    grids, marks = [], []
    for mask in ("center", "top", "random"):
        gen = torch.Generator().manual_seed(seed)
        grid, missing, _ = completion_rows(exact_model, x, mask, 1.0, gen, 1)
        raster_grid, _, _ = completion_rows(raster, x, mask, 1.0, gen, particles)
        grids += [grid, raster_grid[2 * len(x) :]]
        marks += [missing, torch.zeros_like(missing[: len(x)])]
    save_grid(torch.cat(grids), raster.levels, path, columns=len(x), missing=torch.cat(marks))


def measure(raster_run: str, any_run: str, n: int = 16, particles: tuple[int, ...] = (32, 512)) -> dict[str, Any]:
    """The table's rows: per mask, lmconv's exact bits per hidden value and the raster model's estimates, with the
    seconds each took, on the first n test images of the any-order run's data."""
    exact_model, raster, x = pair(raster_run, any_run, n)
    rows = []
    for mask in MASKS:
        known = hide(x, mask) >= 0
        count = (~known).flatten(1).sum(1).double()
        start = time.perf_counter()
        nats, _ = hidden_bits(exact_model, x, known)
        row = {"mask": mask, "hidden": int(count[0]), "exact_bits": float((nats / count).mean() / math.log(2))}
        row["exact_seconds"] = (time.perf_counter() - start) / n
        for k in particles:
            start = time.perf_counter()
            estimate = estimated_hidden_nats(raster, x, known, k)
            row[f"raster_{k}_bits"] = float((estimate / count).mean() / math.log(2))
            row[f"raster_{k}_seconds"] = (time.perf_counter() - start) / n
        rows.append(row)
    return {"rows": rows, "images": n, "particles": particles}
