"""Training metrics: an append-only CSV and a loss-curve PNG drawn from it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

FIELDS = ("step", "epoch", "seconds", "lr", "train_bpd", "val_bpd")


class MetricsLog:
    """Rows of `FIELDS` in `metrics.csv`; on resume, rows past the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        if resume_step is not None and path.is_file():
            rows = [r for r in self.rows() if int(r["step"]) <= resume_step]
            self._write(rows)
        else:
            self._write([])

    def _write(self, rows: list[dict]) -> None:
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(rows)

    def rows(self) -> list[dict]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def append(self, **row: float | int | str) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, FIELDS).writerow({k: row.get(k, "") for k in FIELDS})

    def plot(self, path: Path, title: str = "") -> None:
        """Draw train and validation bits/dim against the step."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.rows()
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for key, style in (("train_bpd", "-"), ("val_bpd", "o-")):
            points = [(int(r["step"]), float(r[key])) for r in rows if r[key] and math.isfinite(float(r[key]))]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=key.replace("_bpd", ""), markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel("bits / dim")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
