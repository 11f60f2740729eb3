"""Training metrics: an append-only CSV and a loss-curve PNG drawn from it."""

from __future__ import annotations

import csv
import math
from pathlib import Path

BOOKKEEPING = ("step", "epoch", "seconds", "lr")


def fields(metrics: tuple[str, ...]) -> tuple[str, ...]:
    """The columns for a model's metrics: the bookkeeping, then train_ and val_ of each (`Trainable.metric_columns`);
    a likelihood model's are step, epoch, seconds, lr, train_bpd, val_bpd."""
    return (*BOOKKEEPING, *(f"train_{m}" for m in metrics), *(f"val_{m}" for m in metrics))


class MetricsLog:
    """Rows of the model's `fields` in `metrics.csv`; on resume, rows past the resumed step are dropped. The plot
    draws `plotted` (the selection metric)."""

    def __init__(
        self, path: Path, resume_step: int | None = None, metrics: tuple[str, ...] = ("bpd",), plotted: str = "bpd"
    ) -> None:
        self.path = path
        self.fields, self.plotted = fields(metrics), plotted
        if resume_step is not None and path.is_file():
            rows = [r for r in self.rows() if int(r["step"]) <= resume_step]
            self._write(rows)
        else:
            self._write([])

    def _write(self, rows: list[dict]) -> None:
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, self.fields)
            writer.writeheader()
            writer.writerows(rows)

    def rows(self) -> list[dict]:
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))

    def append(self, **row: float | int | str) -> None:
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, self.fields).writerow({k: row.get(k, "") for k in self.fields})

    def plot(self, path: Path, title: str = "") -> None:
        """Draw the train and validation values of the plotted metric against the step."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.rows()
        fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
        for split, style in (("train", "-"), ("val", "o-")):
            key = f"{split}_{self.plotted}"
            points = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) and math.isfinite(float(r[key]))]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=split, markersize=3)
        ax.set_xlabel("step")
        ax.set_ylabel("bits / dim" if self.plotted == "bpd" else self.plotted)
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
