"""Speed of the learned coder on image data: sub-pixels per second encoding and decoding a block of test images
with an untrained model at a preset (the coder's cost does not depend on the weights), round trip checked.

    .venv/bin/python scripts/coder_speed.py --model pixelcnn++ --preset cpu --data fashion-mnist --images 200
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import chainrule as cr  # noqa: E402
from chainrule.bench.machine import describe  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="pixelcnn++")
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--data", default="fashion-mnist")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    test = cr.data.load_splits(args.data)["test"]
    x = test.batch(torch.arange(args.images))[0]
    torch.manual_seed(0)
    hparams = cr.models.preset_hparams(args.model, args.preset, test.shape)
    model = cr.models.create(args.model, shape=test.shape, levels=test.levels, **hparams).eval()
    start = time.perf_counter()
    blob = cr.coding.compress(model, x, block=args.images)
    encode = time.perf_counter() - start
    start = time.perf_counter()
    back = cr.coding.decompress(model, blob)
    decode = time.perf_counter() - start
    assert torch.equal(back, x), "round trip failed"
    values = x.numel()
    print(f"machine: {describe()}")
    print(
        f"| {args.model} {args.preset} | {args.data} | {args.images} images, one block | "
        f"encode {values / encode:,.0f} sub-pixels/s | decode {values / decode:,.0f} sub-pixels/s | "
        f"{8 * len(blob) / values:.3f} bits/dim (untrained) |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
