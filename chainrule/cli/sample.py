"""`chainrule sample`: draw samples from a trained model into a PNG grid."""

from __future__ import annotations

import argparse

import torch

from chainrule.cli.common import add_device, generator, load_model
from chainrule.errors import InputError
from chainrule.media import save_grid


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples", description="Sample from a trained model.")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("-n", type=int, default=16, help="number of samples (default 16)")
    p.add_argument("-o", "--output", default="samples.png", help="output PNG (default samples.png)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--class", dest="label", type=int, help="class id for class-conditional models")
    p.add_argument("--per-class", type=int, metavar="N", help="a grid of N samples for every class (one row each)")
    p.add_argument("--seed", type=int, help="random seed (default: fresh)")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    n, columns, cond = args.n, None, None
    if args.per_class:
        if not model.num_classes:
            raise InputError("--per-class needs a class-conditional model (trained with --set num_classes=N)")
        n, columns = args.per_class * model.num_classes, args.per_class
        cond = torch.arange(model.num_classes, device=args.device).repeat_interleave(args.per_class)
    elif args.label is not None:
        cond = torch.full((n,), args.label, dtype=torch.long, device=args.device)
    x = model.sample(n, cond=cond, temperature=args.temperature, generator=generator(args.seed, args.device))
    save_grid(x, model.levels, args.output, columns=columns)
    print(f"wrote {n} samples to {args.output}")
    return 0
