"""`chainrule zoo`: list the models shipped with the package (use them as `zoo:NAME` wherever a run directory
is expected)."""

from __future__ import annotations

import argparse

from chainrule import zoo


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("zoo", help="list the bundled pretrained models", description=__doc__)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    known = zoo.entries()
    if not known:
        print("the zoo is empty")
        return 0
    print("| name | family | data | test | trained | command |")
    print("|---|---|---|---|---|---|")
    for name, e in known.items():
        print(
            f"| zoo:{name} | {e['family']} | {e['data']} | {e['test']} | {e['train_seconds'] / 60:.0f} min | "
            f"`{e['command']}` |"
        )
    return 0
