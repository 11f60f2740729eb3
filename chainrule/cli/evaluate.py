"""`chainrule eval`: exact test log-likelihood of a trained model."""

from __future__ import annotations

import argparse
import math

from chainrule.cli.common import add_device, load_model, run_data
from chainrule.errors import InputError
from chainrule.train import evaluate
from chainrule.train.evaluate import evaluate_frames, evaluate_orders


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("eval", help="evaluate test NLL", description="Evaluate -log p(x) on a dataset split.")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--data", help="dataset (default: the run's)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=int, help="examples per pass (default 256; videos 8)")
    p.add_argument(
        "--given",
        type=int,
        metavar="G",
        help="videos: the frame-prediction protocol: NLL of the later frames given the first G, per predicted frame",
    )
    p.add_argument(
        "--orders",
        type=int,
        metavar="K",
        help="any-order models (lmconv): NLL under each of the first K trained orders and under their ensemble",
    )
    p.add_argument("--limit", type=int, metavar="N", help="score N examples of the split, spread evenly")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    data = run_data(args.run_dir, args.split, args.data)
    if data.shape != model.shape or data.levels != model.levels:
        raise InputError(f"{data.description} does not fit the model (shape {model.shape}, {model.levels} levels)")
    if args.limit is not None:
        if args.limit < 1:
            raise InputError(f"--limit {args.limit}: score at least one example")
        data = data.spread(args.limit)
    if args.orders is not None:
        if args.given is not None:
            raise InputError("--orders scores images; --given scores frames of videos")
        found = evaluate_orders(model, data, args.orders, args.batch_size or 64, progress=not args.quiet)
        for name, bpd in found["orders"].items():
            print(f"{data.description}: order {name}: {bpd:.4f} bits/dim")
        gain = 100 * (1 - found["ensemble_bpd"] / found["best_bpd"])
        print(
            f"{data.description}: ensemble of {args.orders} orders: {found['ensemble_nats']:.3f} nats/example, "
            f"{found['ensemble_bpd']:.4f} bits/dim, {abs(gain):.2f} % {'better' if gain >= 0 else 'worse'} than the "
            f"best single order ({found['best']}: {found['best_bpd']:.4f})"
        )
        return 0
    given = 0 if args.given is None and data.kind.is_video else args.given  # videos: every frame given its past
    if given is not None:
        frames = evaluate_frames(model, data, given, args.batch_size or 8, progress=not args.quiet)
        what = "cross-entropy of the grey values read as probabilities" if "bound_nats_per_frame" in frames else "NLL"
        line = (
            f"{data.description}: {what} of frames {given + 1}-{model.shape[0]} given the first {given}: "
            f"{frames['nats_per_frame']:.2f} nats/frame ({frames['bpd']:.4f} bits/dim)"
        )
        if "bound_nats_per_frame" in frames:
            line += f"; the targets' entropy (the floor) {frames['bound_nats_per_frame']:.2f} nats/frame"
        print(line)
        return 0
    result = evaluate(model, data, args.batch_size or (8 if data.kind.is_video else 256), progress=not args.quiet)
    if data.kind.is_audio:
        per_second = result["bpd"] * math.log(2) * data.kind.rate
        print(f"{data.description}: {result['bpd']:.4f} bits/sample, {per_second:,.0f} nats per second of audio")
    elif data.is_stream:
        print(f"{data.description}: {result['bpd']:.4f} bits per token (character or byte)")
    else:
        print(f"{data.description}: {result['nats']:.3f} nats/example, {result['bpd']:.4f} bits/dim")
    return 0
