"""Training speed in bf16 autocast against fp32 for the sampling benchmark's named architectures (issue 22):
alternating steps in one process, images per second, medians; prints the CPU's bf16 flags and what
`--precision auto` picks for each from these timings.

    .venv/bin/python scripts/precision_ratio.py --steps 4 --batch 32
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.bench.machine import describe  # noqa: E402
from chainrule.bench.sampling import CASES  # noqa: E402
from chainrule.bench.throughput import training_step  # noqa: E402
from chainrule.train.precision import cpu_flags, training_precision  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    flags = sorted(f for f in cpu_flags() if "bf16" in f or f.startswith("amx"))
    print(f"machine: {describe()}; bf16 flags: {' '.join(flags) or 'none'}")
    for name, (model_name, shape, levels, hparams, _) in CASES.items():
        torch.manual_seed(0)
        model = cr.models.create(model_name, shape=shape, levels=levels, **hparams)
        x = torch.randint(0, levels, (args.batch, *shape))
        steps = {"fp32": training_step(model, x, bf16=False), "bf16": training_step(model, x, bf16=True)}
        times = {label: [] for label in steps}
        for i in range(args.steps):
            for label, step in steps.items():
                times[label].append(step(i))
        median = {label: statistics.median(t) for label, t in times.items()}
        rate = {label: args.batch / seconds for label, seconds in median.items()}
        ratio = rate["bf16"] / rate["fp32"]
        auto = training_precision("auto", torch.device("cpu"), probe=median.get)  # its rule on these timings
        print(
            f"| {name} | batch {args.batch} | fp32 {rate['fp32']:.1f} | bf16 {rate['bf16']:.1f} img/s | {ratio:.2f}x "
            f"| auto: {auto} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
