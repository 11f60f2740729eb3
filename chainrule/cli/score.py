"""`chainrule score`: bits per character (token) of text files under a trained text model."""

from __future__ import annotations

import argparse
import math

from chainrule.cli.common import add_device, load_model
from chainrule.data.vocabulary import read_text
from chainrule.errors import InputError


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "score", help="bits per character of text files", description="Score text files under a trained text model."
    )
    p.add_argument("run_dir", help="run directory of a text model")
    p.add_argument("files", nargs="+", help="UTF-8 text files")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    if not model.data_kind.is_text:
        raise InputError(f"{args.run_dir} is not a text model; score takes char-rnn or transformer runs")
    vocabulary = model.data_kind.vocabulary
    print(f"{'file':40} {'chars':>10} {'tokens':>10} {'bits/char':>10} {'bits/token':>10}")
    for name in args.files:
        text = read_text(name)
        tokens = vocabulary.encode(text, name)
        nats = -float(model.stream_log_probs(tokens).double().sum())
        bits = nats / math.log(2)
        print(f"{name:40} {len(text):>10,} {len(tokens):>10,} {bits / len(text):>10.4f} {bits / len(tokens):>10.4f}")
    return 0
