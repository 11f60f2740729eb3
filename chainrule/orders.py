"""Generation orders over the pixels of an image: the typed fact every model states, and the orders an any-order
model (locally masked convolutions, `models.lmconv`) can be given.

`Ordering` says what a model's order is: the raster scan, one fixed order of its own (MADE with a random order),
or any order chosen at call time. An order over pixels is a permutation of the H·W pixel indices (row-major),
long (H·W,); `pixel_to_dims` turns it into the order over the C·H·W values (every pixel's channels R, G, B in turn).

Named orders (Jain, Abbeel and Pathak 2020, arXiv 2006.12486): `raster` (rows top to bottom, each left to right)
and `s-curve` (rows top to bottom, alternately left to right and right to left), each in the 8 orientations of
the square (4 rotations, each optionally mirrored): `s-curve`, `s-curve:r90`, `s-curve:r180`, `s-curve:r270`,
`s-curve:flip`, `s-curve:flip:r90`, ... `ENSEMBLE_ORDERS` are the 8 S-curves.

`known_first` builds the order completion uses: every known pixel first (raster order), then the unknown ones
from the boundary of the known region inwards (by distance to it, ties in S-curve order), so that every
conditional of an unknown value reads all the known ones and sampling is exact ancestral sampling.
"""

from __future__ import annotations

import enum
from collections import deque

import torch
from torch import Tensor

from chainrule.errors import InputError


class Ordering(enum.Enum):
    """What a model's generation order is."""

    RASTER = "raster"  # the raster scan of its data (for images: rows, then R before G before B in a pixel)
    FIXED = "fixed"  # one order of its own, fixed at construction
    ANY = "any"  # any order over the pixels, given at call time (`model.ordered(order)`)


BASES = ("raster", "s-curve")
ROTATIONS = (0, 90, 180, 270)


def orientations(base: str) -> list[str]:
    """The 8 names of a base order: rotations, then the mirrored rotations."""
    names = [base] + [f"{base}:r{r}" for r in ROTATIONS[1:]]
    return names + [f"{base}:flip"] + [f"{base}:flip:r{r}" for r in ROTATIONS[1:]]


ENSEMBLE_ORDERS = tuple(orientations("s-curve"))
NAMES = tuple(orientations("raster")) + ENSEMBLE_ORDERS


def grid(base: str, height: int, width: int) -> Tensor:
    """(H, W) long: the step at which each pixel comes in the base order."""
    steps = torch.arange(height * width).reshape(height, width)
    if base == "s-curve":
        steps[1::2] = steps[1::2].flip(1)
    return steps


def named(name: str, height: int, width: int) -> Tensor:
    """The pixel order of a named order, long (H·W,) (see the module doc). Rotations turn the base order's grid
    (for a quarter turn of a non-square image, the base order over the W x H grid, turned onto H x W).

    Raises:
        InputError: for an unknown name.
    """
    parts = name.split(":")
    base, rest = parts[0], parts[1:]
    flip = bool(rest) and rest[0] == "flip"
    rest = rest[1:] if flip else rest
    turn = 0
    if len(rest) == 1 and rest[0].startswith("r") and rest[0][1:].isdigit():
        turn = int(rest[0][1:])
        rest = []
    if base not in BASES or rest or turn not in ROTATIONS:
        raise InputError(f"unknown order {name!r}; choose one of {', '.join(NAMES)} (or give a permutation)")
    quarter = bool(turn % 180)  # a quarter turn of the base order over the transposed grid fits H x W
    steps = grid(base, width, height) if quarter else grid(base, height, width)
    if flip:
        steps = steps.flip(1)
    steps = torch.rot90(steps, k=turn // 90, dims=(0, 1))
    return rank_to_order(steps.reshape(-1))


def rank_to_order(rank: Tensor) -> Tensor:
    """rank[p] = the step of pixel p  →  order[t] = the pixel of step t (and back: the inverse permutation)."""
    order = torch.empty_like(rank)
    order[rank] = torch.arange(rank.numel(), device=rank.device)
    return order


def check_order(order: Tensor, pixels: int) -> Tensor:
    """A permutation of range(pixels) as long (pixels,).

    Raises:
        InputError: unless it is one."""
    if not isinstance(order, Tensor) or order.dtype.is_floating_point or order.dim() != 1:
        raise InputError(f"an order is an integer tensor of {pixels} pixel indices")
    order = order.long().cpu()
    if order.numel() != pixels or not torch.equal(order.sort().values, torch.arange(pixels)):
        raise InputError(f"an order must hold every pixel index 0..{pixels - 1} exactly once")
    return order


def resolve(order: str | Tensor, height: int, width: int) -> Tensor:
    """A named order or a permutation → long (H·W,), checked."""
    if isinstance(order, str):
        return named(order, height, width)
    return check_order(order, height * width)


def pixel_to_dims(order: Tensor, channels: int) -> Tensor:
    """A pixel order (H·W,) → the order over the C·H·W flat values of a (C, H, W) image: each pixel's channels in
    turn (R before G before B)."""
    pixels = order.numel()
    return (torch.arange(channels)[None, :] * pixels + order[:, None]).reshape(-1)


def known_first(known: Tensor) -> Tensor:
    """The completion order for a (H, W) bool map of known pixels: the known ones in raster order, then the unknown
    ones by their distance (4-neighbour steps) from the known region, ties broken in S-curve order. long (H·W,).
    With nothing known, the S-curve."""
    height, width = known.shape
    flat = known.reshape(-1).cpu()
    distance = [-1] * (height * width)
    queue = deque(p for p in range(height * width) if flat[p])
    for p in queue:
        distance[p] = 0
    while queue:
        p = queue.popleft()
        i, j = divmod(p, width)
        for q in (p - width if i else -1, p + width if i + 1 < height else -1, p - 1 if j else -1,
                  p + 1 if j + 1 < width else -1):  # fmt: skip
            if q >= 0 and distance[q] < 0:
                distance[q] = distance[p] + 1
                queue.append(q)
    scurve = grid("s-curve", height, width).reshape(-1).tolist()
    far = height * width + 1
    key = [(0, p, 0) if flat[p] else (1, far if distance[p] < 0 else distance[p], scurve[p]) for p in range(len(flat))]
    return torch.tensor(sorted(range(height * width), key=key.__getitem__), dtype=torch.long)
