"""Where the latent video route's speed comes from: one prediction (10 frames given 10, one video) through the VPN
and through the latent route with each of its two generation speed-ups switched off in turn, timed in one run
(the works take turns, median of `--repeats`).

    .venv/bin/python scripts/latent_route_speed.py zoo:vpn-moving-mnist zoo:gated-pixelcnn-moving-mnist-codes

Switches: Gated PixelCNN's compiled per-position step (`GatedPixelCNN.compiled_steps`) and the filing of whole
known rows in one pass (`ImageModel.file_rows`; off: the known codes are stepped one at a time).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from chainrule.bench.machine import describe  # noqa: E402
from chainrule.bench.video import latent_route, median_each  # noqa: E402
from chainrule.cli.common import run_data  # noqa: E402
from chainrule.models import load  # noqa: E402
from chainrule.models.gated_pixelcnn import GatedPixelCNN  # noqa: E402
from chainrule.models.image import ImageModel  # noqa: E402


def switched(work, compiled: bool, filed: bool):
    """work(seed) with the prior's two speed-ups set as given (restored after)."""

    def run(seed: int) -> None:
        GatedPixelCNN.compiled_steps = compiled
        GatedPixelCNN.file_rows = FILE_ROWS if filed else ImageModel.file_rows  # the base: "this family steps"
        try:
            work(seed)
        finally:
            GatedPixelCNN.compiled_steps, GatedPixelCNN.file_rows = True, FILE_ROWS

    return run


FILE_ROWS = GatedPixelCNN.file_rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("vpn")
    parser.add_argument("prior")
    parser.add_argument("--given", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vpn = load(args.vpn)
    x = run_data(args.vpn, "test").x[:1]
    known = x.clone()
    known[:, args.given :] = -1

    @torch.inference_mode()
    def cached(seed: int) -> None:
        vpn.sample(1, known=known, generator=torch.Generator().manual_seed(seed))

    route = latent_route(args.prior, x, vpn.levels, args.given)
    works = {
        "vpn, cached": cached,
        "latent: rows filed at once + compiled step": route,
        "latent: rows filed at once, layer steps": switched(route, compiled=False, filed=True),
        "latent: known codes stepped, compiled step": switched(route, compiled=True, filed=False),
        "latent: known codes stepped, layer steps": switched(route, compiled=False, filed=False),
    }
    seconds = median_each(list(works.values()), args.repeats)
    print(f"machine: {describe()}")
    print("| route | seconds per video | vpn / this |\n|---|---:|---:|")
    for name, s in zip(works, seconds, strict=True):
        print(f"| {name} | {s:.2f} | {seconds[0] / s:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
