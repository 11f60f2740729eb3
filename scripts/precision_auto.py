"""What `--precision auto` measures for each family at its default (`cpu` preset) on its usual data: the trainer's
own probe (`Trainer.time_pass`, a forward and backward pass of the first batch) in fp32 and bf16, alternated four
times in one process, medians; prints the ratio (above 1: bf16 faster), what `auto`'s rule picks from these
timings, and the CPU's bf16 flags.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/precision_auto.py [--models transformer gated-pixelcnn ...]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from chainrule.bench.machine import describe  # noqa: E402
from chainrule.train import experiment  # noqa: E402
from chainrule.train.precision import BF16_FLAGS, cpu_flags, training_precision  # noqa: E402
from chainrule.train.trainer import Trainer  # noqa: E402

CASES = {  # family: (dataset, data options)
    "transformer": ("shakespeare", {}),
    "char-rnn": ("shakespeare", {}),
    "made": ("fashion-mnist", {"levels": 2}),
    "pixelcnn": ("fashion-mnist", {"levels": 2}),
    "gated-pixelcnn": ("fashion-mnist", {}),
    "pixelcnn++": ("fashion-mnist", {}),
    "pixelsnail": ("fashion-mnist", {"levels": 2}),
    "wavenet": ("speech", {}),
}


def timed(self: Trainer, resume: bool = False) -> dict[str, float]:
    """Stands in for `Trainer.fit`: the probe in both precisions, alternated, instead of training."""
    times: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(4):
        for precision in times:
            times[precision].append(self.time_pass(precision))
    return {precision: statistics.median(t) for precision, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    print(describe(), "| bf16 flags:", " ".join(sorted(cpu_flags() & BF16_FLAGS)) or "none")
    Trainer.fit = timed
    print("| family | data | fp32 pass | bf16 pass | fp32 / bf16 | auto |\n|---|---|---:|---:|---:|---|")
    for name in args.models:
        data, options = CASES[name]
        with tempfile.TemporaryDirectory() as folder:
            t = experiment.train_model(model=name, data=data, out=Path(folder) / "run", progress=False, **options)
        fp32, bf16 = 1e3 * t["fp32"], 1e3 * t["bf16"]
        auto = training_precision("auto", torch.device("cpu"), probe=t.get)  # its rule on these timings
        print(f"| {name} | {data} | {fp32:.1f} ms | {bf16:.1f} ms | {fp32 / bf16:.2f}x | {auto} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
