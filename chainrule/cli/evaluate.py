"""`chainrule eval`: exact test log-likelihood of a trained model."""

from __future__ import annotations

import argparse
import math

from chainrule.cli.common import add_device, load_model, run_data
from chainrule.errors import InputError
from chainrule.train import evaluate


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("eval", help="evaluate test NLL", description="Evaluate -log p(x) on a dataset split.")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("--data", help="dataset (default: the run's)")
    p.add_argument("--split", default="test", choices=["train", "val", "test"])
    p.add_argument("--batch-size", type=int, default=256)
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    data = run_data(args.run_dir, args.split, args.data)
    if data.shape != model.shape or data.levels != model.levels:
        raise InputError(f"{data.description} does not fit the model (shape {model.shape}, {model.levels} levels)")
    result = evaluate(model, data, args.batch_size)
    if data.kind.is_audio:
        per_second = result["bpd"] * math.log(2) * data.kind.rate
        print(f"{data.description}: {result['bpd']:.4f} bits/sample, {per_second:,.0f} nats per second of audio")
    elif data.is_stream:
        print(f"{data.description}: {result['bpd']:.4f} bits per token (character or byte)")
    else:
        print(f"{data.description}: {result['nats']:.3f} nats/example, {result['bpd']:.4f} bits/dim")
    return 0
