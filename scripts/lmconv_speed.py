"""LMConv's speed targets (issue 33), each as a ratio timed in one run, untrained weights (the cost does not depend
on them), 256-level 28x28 grey images:

- per-position sampling in an arbitrary order (a random permutation of the pixels) with the generation cache
  against the naive sampler (a full pass of the network per value), same order, same images;
- a training step (forward + backward, batch 32) of the lmconv cpu preset against PixelCNN++'s cpu preset (both
  32 channels), the two alternating; lmconv in an S-curve and in a completion order (general path).

    .venv/bin/python scripts/lmconv_speed.py --threads 2
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
from chainrule import orders  # noqa: E402
from chainrule.bench.machine import describe  # noqa: E402
from chainrule.sampling import sample_cached, sample_naive  # noqa: E402
from chainrule.sampling.regions import hide  # noqa: E402

SHAPE, LEVELS = (1, 28, 28), 256


def model(name: str):
    torch.manual_seed(0)
    return cr.models.create(name, shape=SHAPE, levels=LEVELS, **cr.models.preset_hparams(name, "cpu", SHAPE))


def seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("-n", type=int, default=4, help="images per draw (default 4)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {describe()}")

    lm = model("lmconv").eval()
    permutation = torch.randperm(28 * 28, generator=torch.Generator().manual_seed(0))
    with lm.ordered(permutation):
        cached = seconds(lambda: sample_cached(lm, args.n, generator=torch.Generator().manual_seed(1)))
        naive = seconds(lambda: sample_naive(lm, args.n, generator=torch.Generator().manual_seed(1)))
    print(
        f"sampling {args.n} images in a random order: cached {cached:.2f} s, naive {naive:.1f} s, {naive / cached:.0f}x"
    )

    pp, lm = model("pixelcnn++").train(), lm.train()
    x = torch.randint(0, LEVELS, (32, *SHAPE), generator=torch.Generator().manual_seed(2))
    region = orders.known_first(hide(x[:1], "center")[0, 0] >= 0)

    def step(m, order=None) -> None:
        m.zero_grad(set_to_none=True)
        if order is None:
            (-m.log_prob(x).mean()).backward()
        else:
            with m.ordered(order):
                (-m.log_prob(x).mean()).backward()

    works = {
        "pixelcnn++ cpu": lambda: step(pp),
        "lmconv cpu, s-curve": lambda: step(lm, "s-curve"),
        "lmconv cpu, completion order (centre)": lambda: step(lm, region),
    }
    for work in works.values():  # warm up (and build the masks)
        work()
    times: dict[str, list[float]] = {name: [] for name in works}
    for _ in range(args.repeats):
        for name, work in works.items():
            times[name].append(seconds(work))
    base = statistics.median(times["pixelcnn++ cpu"])
    for name, spent in times.items():
        median = statistics.median(spent)
        print(f"training step, batch 32, fp32: {name}: {median:.3f} s ({median / base:.2f}x pixelcnn++)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
