"""Completion that sees every known value: p(x_unknown | x_known) by self-normalised importance resampling, with
sequential Monte Carlo resampling at row ends.

Ancestral sampling along the model's order draws each unknown value from p(x_i | x_<i): it never sees the known
values that come later in the order (a hidden top half ignores the visible bottom half). Here N candidates
("particles") per example are drawn along the order; each known value met after the first unknown one multiplies
a candidate's weight by its conditional, which comes free on the same walk. The weight of a complete candidate is
then p(x_known after the first unknown | its draws), and resampling one candidate in proportion to it targets the
exact conditional as N grows (the self-normalisation bias is O(1/N)). Known values before the first unknown have
the same conditionals in every candidate and cancel from the weights.

Where the known values are spread along the order (left, right or centre hidden), weights degenerate row after
row; at each row end (`model.row_steps`) the candidates of an example whose effective sample size
ESS = exp(2·logsumexp(lw) − logsumexp(2·lw)) fell below N/2 are resampled in proportion to their weights and their
weights reset (sequential Monte Carlo; the cached path regroups the model's cache with `reorder_cache`). Where
they all come at the end of the order (top hidden), the weights only arrive after the last unknown value: expect
an ESS near 1, i.e. the result is the best of N candidates by the known values' likelihood, not a well-mixed draw.

Temperature T: unknown values are drawn from the tempered conditionals softmax(log p / T), and known values weigh
in with the same tempered conditionals, so the target is the tempered model Π softmax(log p(x_i | x_<i) / T)
conditioned on the known values (at T = 1, the model's exact conditional).

A model that takes any order (`Ordering.ANY`, e.g. lmconv) is walked instead in an order that puts every known
pixel first (one of its trained orders where one does, else `orders.known_first`; one order per distinct set of
known pixels): nothing known follows an unknown
value, one candidate is exact, and the completion is plain ancestral sampling from p(x_unknown | x_known).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from chainrule.distributions.base import sample_from_log_probs
from chainrule.errors import InputError
from chainrule.orders import Ordering, known_first, named
from chainrule.sampling.conditionals import walk_conditionals
from chainrule.sampling.naive import start_tensor
from chainrule.sampling.requests import check_temperature

log = logging.getLogger(__name__)

DEFAULT_PARTICLES = 32  # candidates per example where known values follow unknown ones
MAX_ROWS = 512  # candidates walked at once (examples x particles), bounding the cache's memory
LOW_ESS = 0.05  # warn below this fraction of the particles


@dataclass
class Completion:
    """x: long (B, *shape) the completions; ess: float (B,) the lowest effective sample size each example's
    weights reached on the walk (at the row ends and at the end, before any resampling; N = particles for an
    example with nothing to weigh); resampled: resampling events over all examples (sequential Monte Carlo);
    particles: N; exact: whether nothing known follows an unknown value (then ancestral sampling is exact)."""

    x: Tensor
    ess: Tensor
    resampled: int
    particles: int
    exact: bool = True


def completion_groups(model, known: Tensor) -> list[tuple[Tensor, Tensor | None]]:
    """The examples of `known` (B, *shape) in groups, each with the order it is completed in: one group in the
    model's own order (None), or, for a model that takes any order (`Ordering.ANY`), one group per set of known
    pixels, in an order that puts those pixels first (`completion_order`).
    [(long example indices, pixel order or None)]."""
    n = known.shape[0]
    if model.ordering is not Ordering.ANY:
        return [(torch.arange(n), None)]
    channels, height, width = model.shape
    pixels = (known >= 0).reshape(n, channels, height * width).all(1).cpu()  # a pixel is known with all channels
    maps, group = torch.unique(pixels, dim=0, return_inverse=True)
    trained = [named(name, height, width) for name in model.trained_orders]
    return [
        (torch.nonzero(group == g)[:, 0], completion_order(maps[g].view(height, width), trained))
        for g in range(maps.shape[0])
    ]


def completion_order(known: Tensor, trained: list[Tensor]) -> Tensor:
    """The pixel order that completes an (H, W) bool map of known pixels exactly: the first trained order that
    already puts every known pixel first (a hidden top, bottom, left or right part: the network walks an order it
    learned), else the known pixels first and the rest outward from them (`orders.known_first`)."""
    flat = known.reshape(-1)
    for order in trained:
        walked = flat[order]
        if not bool((walked[1:] & ~walked[:-1]).any()):  # no known pixel right after an unknown one
            return order
    return known_first(known)


@contextmanager
def walked_in(model, order: Tensor | None) -> Iterator[None]:
    """The model set to `order` (None: its own) for the block."""
    if order is None:
        yield
        return
    with model.ordered(order):
        yield


def needs_particles(model, known: Tensor | None) -> bool:
    """Whether some known value comes after an unknown one in the order the completion walks (the model's, or for
    an any-order model the known-first order of each group): else one candidate is exact."""
    if known is None:
        return False
    for rows, order in completion_groups(model, known):
        with walked_in(model, order):
            unknown = (known[rows.to(known.device)] < 0).reshape(len(rows), -1)[:, model.order.to(known.device)]
            if bool(known_after_unknown(unknown).any()):
                return True
    return False


def known_after_unknown(unknown: Tensor) -> Tensor:
    """bool (B, D) in step order: the known values that come after the first unknown one (those that weigh)."""
    return unknown.cummax(dim=1).values & ~unknown


def default_particles(model, known: Tensor | None) -> int:
    """DEFAULT_PARTICLES where some known value follows an unknown one, else 1 (ancestral sampling is exact)."""
    return DEFAULT_PARTICLES if needs_particles(model, known) else 1


def effective_sample_size(log_weights: Tensor) -> Tensor:
    """ESS = exp(2·logsumexp(lw) − logsumexp(2·lw)) over the last dimension: (..., N) → (...)."""
    return torch.exp(2 * torch.logsumexp(log_weights, -1) - torch.logsumexp(2 * log_weights, -1))


@torch.inference_mode()
def complete(
    model,
    known: Tensor,
    particles: int,
    cond: Tensor | None = None,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    cache: bool = True,
    max_rows: int = MAX_ROWS,
    resample_below: float = 0.5,
) -> Completion:
    """Complete every example of `known` from N = `particles` candidates each (see the module docstring).

    Args:
        model: an autoregressive model.
        known: integer (B, *shape), -1 marking unknown entries.
        particles: N ≥ 1 candidates per example.
        cond: optional conditioning for the B examples, as for `model.sample`.
        temperature: the target is the tempered model conditioned on the known values.
        generator: torch.Generator for reproducible draws.
        cache: use the model's generation cache (False: one full pass per step, the reference).
        max_rows: candidates walked at once; examples are done in chunks of ⌊max_rows / N⌋ (at least one).
        resample_below: at a row end, an example's candidates are resampled when its ESS < resample_below · N.

    Raises:
        InputError: particles < 1, a bad temperature, or a known tensor / cond that does not fit the model.
    """
    if not isinstance(particles, int) or particles < 1:
        raise InputError(f"particles={particles} must be an integer ≥ 1")
    check_temperature(temperature)
    n = known.shape[0] if isinstance(known, Tensor) and known.dim() else 0
    if n < 1:
        raise InputError("known must hold at least one example")
    model.check_cond(cond, n)
    device = next(model.parameters()).device
    values, unknown = start_tensor(model, n, known, device)
    per_chunk = max(1, max_rows // particles)
    results, ess = torch.empty_like(values), torch.empty(n, device=device)
    resampled = 0
    was_training = model.training
    model.train(False)
    try:
        for rows, order in completion_groups(model, known):
            with walked_in(model, order):
                for start in range(0, len(rows), per_chunk):
                    part = rows[start : start + per_chunk].to(device)
                    x, e, r = _complete_chunk(
                        model,
                        values[part],
                        unknown[part],
                        particles,
                        None if cond is None else cond[part.tolist()],
                        temperature,
                        generator,
                        cache,
                        resample_below,
                    )
                    results[part], ess[part] = x, e
                    resampled += r
    finally:
        model.train(was_training)
    result = Completion(results, ess, resampled, particles, not needs_particles(model, known))
    if particles > 1 and float(result.ess.min()) < LOW_ESS * particles:
        log.warning(
            "completion: effective sample size %.1f of %d candidates (min over examples) is below %.0f %%: the "
            "completions follow the known values only roughly; more particles help",
            float(result.ess.min()),
            particles,
            100 * LOW_ESS,
        )
    return result


def _complete_chunk(
    model, values: Tensor, unknown: Tensor, particles: int, cond, temperature, generator, cache: bool, threshold
):
    """Complete b examples: known `values` (b, *shape) where `unknown` (bool, same shape) is False. Returns
    (x (b, *shape), ess (b,), resampling events)."""
    b, device = values.shape[0], values.device
    rows = b * particles
    x = values.reshape(b, -1).repeat_interleave(particles, dim=0)  # (rows, D), the candidates
    cond = None if cond is None else cond.repeat_interleave(particles, dim=0)
    order = model.order.to(device)
    # (rows, D) in step order; the same for every candidate of an example, so resampling leaves them as they are
    unknown = unknown.reshape(b, -1)[:, order].repeat_interleave(particles, dim=0)
    weigh = known_after_unknown(unknown)
    log_weights = torch.zeros(rows, device=device)
    lowest = torch.full((b,), float(particles), device=device)
    order_list, row_steps, resampled = order.tolist(), model.row_steps, 0

    def choose(t: int, log_probs: Tensor) -> Tensor:
        position = order_list[t]
        todo = unknown[:, t]
        if bool(todo.any()):
            draw = sample_from_log_probs(log_probs, temperature, generator).to(device)
            x[:, position] = torch.where(todo, draw, x[:, position])
        if particles > 1 and bool(weigh[:, t].any()):
            tempered = torch.log_softmax(log_probs.float() / temperature, dim=-1).to(device)
            gained = tempered.gather(1, x[:, position, None])[:, 0]
            log_weights.add_(torch.where(weigh[:, t], gained, torch.zeros_like(gained)))
        return x[:, position]

    def regroup(t: int) -> Tensor | None:
        nonlocal x, log_weights, resampled
        if (t + 1) % row_steps or t + 1 >= len(order_list):
            return None
        grouped = log_weights.view(b, particles)
        ess = effective_sample_size(grouped)
        torch.minimum(lowest, ess, out=lowest)
        low = ess < threshold * particles
        if not bool(low.any()):
            return None
        picks = torch.multinomial(torch.softmax(grouped[low], dim=-1), particles, True, generator=generator)
        index = torch.arange(rows, device=device).view(b, particles)
        index[low] = picks.to(device) + (torch.nonzero(low)[:, :1] * particles)
        index = index.reshape(-1)
        x, log_weights = x[index], log_weights[index]
        log_weights.view(b, particles)[low] = 0.0
        resampled += int(low.sum())
        return index

    walk_conditionals(model, rows, choose, cond=cond, regroup=regroup if particles > 1 else None, cache=cache)
    grouped = log_weights.view(b, particles)
    chosen = torch.multinomial(torch.softmax(grouped, dim=-1), 1, generator=generator)[:, 0] if particles > 1 else None
    pick = torch.arange(b, device=device) * particles + (0 if chosen is None else chosen.to(device))
    return x[pick].reshape(b, *model.shape), torch.minimum(lowest, effective_sample_size(grouped)), resampled


def summary(result: Completion) -> str:
    """One line on the weights: min / median ESS of N candidates and the resampling events."""
    if result.particles == 1 and result.exact:
        return "1 candidate per example (nothing known follows an unknown value in the order walked: exact)"
    if result.particles == 1:
        return (
            "1 candidate per example: known values follow unknown ones and were not weighed (plain ancestral "
            "sampling, not the conditional; more --particles weigh them)"
        )
    median = float(result.ess.median())
    return (
        f"{result.particles} candidates per example: effective sample size min {float(result.ess.min()):.1f} / "
        f"median {median:.1f}, {result.resampled} resampling steps"
    )
