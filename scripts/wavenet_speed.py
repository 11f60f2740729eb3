"""Cached generation speed of WaveNet at a preset: samples per second of `model.sample(batch)` over a number of
samples (in total over the batch), untrained weights (the cost does not depend on them), several draws; the
compiled step (`nn.native`) and the PyTorch step alternate in one run, and the median of each is reported.

    .venv/bin/python scripts/wavenet_speed.py --preset cpu --samples 8000 --draws 9 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.bench.machine import describe  # noqa: E402
from chainrule.nn import native  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1, help="sequences drawn together (rates are in total)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shape = (args.samples,)
    hparams = cr.models.preset_hparams("wavenet", args.preset, shape)
    model = cr.models.create("wavenet", shape=shape, levels=256, **hparams).eval()
    print(f"machine: {describe()}")
    start = time.perf_counter()
    compiled = native.library("gated_stack_step") is not None
    print(f"compiled step: {'yes' if compiled else 'no (no C compiler)'}, ready in {time.perf_counter() - start:.3f} s")
    rates: dict[str, list[float]] = {"compiled": [], "pytorch": []}
    for seed in range(args.draws):
        for name in rates if compiled else ["pytorch"]:
            model.compiled_step = name == "compiled"
            start = time.perf_counter()
            model.sample(args.batch, generator=torch.Generator().manual_seed(seed))
            rates[name].append(args.batch * args.samples / (time.perf_counter() - start))
            print(f"wavenet {args.preset}, batch {args.batch}, {name} step: {rates[name][-1]:,.0f} samples/s")
    for name, values in rates.items():
        if values:
            print(f"median of {len(values)}, {name} step: {statistics.median(values):,.0f} samples/s")
    if compiled:
        ratio = statistics.median(rates["compiled"]) / statistics.median(rates["pytorch"])
        print(f"compiled / pytorch: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
