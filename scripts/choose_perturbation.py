"""Choose the background model's perturbation rate μ for likelihood-ratio scores on validation data alone (no
out-of-distribution set is looked at): for each background run, the AUROC of the ratio score between clean
validation images and the same images with a fraction of their pixels randomised; the μ with the highest wins.

    .venv/bin/python scripts/choose_perturbation.py RUN BACKGROUND_RUN... [--images 1000] [--rate 0.1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule import serialization  # noqa: E402
from chainrule.cli.common import run_data  # noqa: E402
from chainrule.train.trainer import perturb  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("backgrounds", nargs="+")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=0.1, help="the fraction of pixels randomised (default 0.1)")
    args = parser.parse_args()
    model = cr.load(args.run)
    clean = run_data(args.run, "val").x[: args.images]
    noisy = perturb(clean, model.levels, args.rate, torch.Generator().manual_seed(0))
    print(f"| background | μ | validation AUROC (clean vs {args.rate:g} of pixels randomised) |")
    for run in args.backgrounds:
        background = cr.load(run)
        mu = serialization.read_json(Path(run) / "run.json")["train"]["perturb"]
        inside = cr.score(model, clean, method="ratio", background=background)
        outside = cr.score(model, noisy, method="ratio", background=background)
        print(f"| {run} | {mu:g} | {cr.scoring.auroc(inside.numpy(), outside.numpy()):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
