"""The measured figures of the hardening issue (BENCHMARKS.md "Hardening"), from the repository root:

    OMP_NUM_THREADS=2 PYTHONPATH=. .venv/bin/python scripts/hardening_figures.py [header|coding|completion]

- header: 100 one-image files of Fashion-MNIST test images with zoo:gated-pixelcnn-fashion-mnist; the bytes each
  file carries over ⌈−log2 p(x) / 8⌉.
- coding: compress + decompress of 64 test images in one block, median of 3 (run it on two checkouts, alternating,
  to compare versions).
- completion: total variation distance to the exact conditional on tiny 2x2 models for N = 1 .. 500 candidates,
  and the effective sample size of the zoo model's completions per hidden region.
Needs Fashion-MNIST (setup installs it).
"""

from __future__ import annotations

import math
import statistics
import sys
import time

import torch

import chainrule as cr

ZOO = "zoo:gated-pixelcnn-fashion-mnist"


def test_images(n: int) -> torch.Tensor:
    return cr.data.load("fashion-mnist", split="test", levels=256).x[:n]


def header() -> None:
    model, over, sizes = cr.load(ZOO), [], []
    for image in test_images(100):
        stats: dict = {}
        blob = cr.coding.compress(model, image[None], stats=stats)
        over.append(len(blob) - math.ceil(stats["model_bits"] / 8))
        sizes.append(len(blob))
    print(
        f"100 one-image files: {min(sizes)}..{max(sizes)} bytes (median {statistics.median(sizes)}); over "
        f"ceil(-log2 p / 8): min {min(over)}, median {statistics.median(over)}, max {max(over)} bytes"
    )


def coding() -> None:
    model, x, encode, decode = cr.load(ZOO), test_images(64), [], []
    for _ in range(3):
        start = time.perf_counter()
        blob = cr.coding.compress(model, x)
        encode.append(time.perf_counter() - start)
        start = time.perf_counter()
        assert torch.equal(cr.coding.decompress(model, blob), x)
        decode.append(time.perf_counter() - start)
    print(
        f"64 images: compress {statistics.median(encode):.2f} s, decompress {statistics.median(decode):.2f} s, "
        f"{len(blob)} bytes"
    )


def completion() -> None:
    from tests.conformance.test_contract import tiny
    from tests.sampling.test_completion import category, exact_conditional, pattern

    for name in ("pixelcnn", "gated-pixelcnn", "made"):
        model = tiny(name, (1, 2, 2), 2)
        known = pattern(model, 2000)
        candidates, exact = exact_conditional(model, known)
        row = []
        for n in (1, 10, 100, 500):
            done = cr.sampling.complete(model, known, n, generator=torch.Generator().manual_seed(0), max_rows=10**6)
            freq = torch.bincount(category(candidates, done.x), minlength=len(candidates)).double() / len(known)
            row.append(f"N={n}: TV {0.5 * float((freq - exact).abs().sum()):.3f}")
        print(f"{name}, 2x2 binary, 2,000 completions: " + "; ".join(row))
    model, x = cr.load(ZOO), test_images(8)
    for region in cr.sampling.REGIONS:
        known = cr.sampling.hide(x, region)
        start = time.perf_counter()
        done = cr.sampling.complete(model, known, cr.sampling.default_particles(model, known))
        print(
            f"zoo, 8 test images, {region} hidden, N={done.particles}: ESS min {float(done.ess.min()):.2f} / median "
            f"{float(done.ess.median()):.2f}, {done.resampled} resampling steps, {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    parts = {"header": header, "coding": coding, "completion": completion}
    for part in sys.argv[1:] or list(parts):
        parts[part]()
