"""`chainrule datasets`: list the built-in datasets and whether they are installed."""

from __future__ import annotations

import argparse

from chainrule.data import describe_all


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("datasets", help="list datasets", description="Built-in datasets and their status.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    for name, installed, about, install in describe_all():
        status = "installed" if installed else f"missing: {install}"
        print(f"{name:15s} {about:52s} {status}")
    print("Any .npy/.npz array, folder of PNG images or folder of IDX files also works as --data PATH.")
    return 0
