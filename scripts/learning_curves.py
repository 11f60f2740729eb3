"""Validation learning curves of finished runs side by side, as a Markdown table (BENCHMARKS.md).

    .venv/bin/python scripts/learning_curves.py LABEL=RUN_DIR [LABEL=RUN_DIR ...] [--every 2]

One row per run: the latest validation bits/dim at or before every `--every` training minutes (from the run's
metrics.csv) and at the end, then the steps, tokens and test figure of its results.json.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def validations(run: Path) -> list[tuple[float, float]]:
    """(training minutes, validation bits/dim) of every validation in the run."""
    with open(run / "metrics.csv", newline="") as f:
        return [(float(r["seconds"]) / 60, float(r["val_bpd"])) for r in csv.DictReader(f) if r["val_bpd"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--every", type=float, default=2.0, help="minutes between columns (default 2)")
    args = parser.parse_args()
    runs = [(label, Path(path)) for label, path in (r.split("=", 1) for r in args.runs)]
    curves = {label: validations(path) for label, path in runs}
    last = max(minutes for curve in curves.values() for minutes, _ in curve)
    marks = [args.every * (i + 1) for i in range(int(last // args.every + 0.999))]
    print("| run | " + " | ".join(f"{m:g} min" for m in marks) + " | end | steps | tokens | test |")
    print("|---|" + "---:|" * (len(marks) + 4))
    for label, path in runs:
        cells = []
        for mark in marks:
            seen = [bpd for minutes, bpd in curves[label] if minutes <= mark + 1e-9]
            cells.append(f"{seen[-1]:.3f}" if seen else "–")
        results = json.loads((path / "results.json").read_text())
        info = json.loads((path / "run.json").read_text())
        tokens = results["steps"] * info["train"]["batch_size"] * info["data"]["length"]
        cells.append(f"{curves[label][-1][1]:.3f}")
        print(
            f"| {label} | " + " | ".join(cells) + f" | {results['steps']:,} | {tokens / 1e6:.1f} M | "
            f"{results['test_bpd']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
