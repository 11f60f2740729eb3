"""`chainrule sample`: draw samples from a trained model into a PNG grid."""

from __future__ import annotations

import argparse

import torch

from chainrule.cli.common import add_device, generator, load_model
from chainrule.media import save_grid


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples", description="Sample from a trained model.")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("-n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("-o", "--output", default="samples.png", help="output PNG (default samples.png)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--class", dest="label", type=int, help="class id for class-conditional models")
    p.add_argument("--seed", type=int, help="random seed (default: fresh)")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    cond = torch.full((args.n,), args.label, dtype=torch.long, device=args.device) if args.label is not None else None
    x = model.sample(args.n, cond=cond, temperature=args.temperature, generator=generator(args.seed, args.device))
    save_grid(x, model.levels, args.output)
    print(f"wrote {args.n} samples to {args.output}")
    return 0
