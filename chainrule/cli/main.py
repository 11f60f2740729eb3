"""Entry point of `chainrule` (and `python -m chainrule`): parse, dispatch, turn user errors into exit code 2."""

from __future__ import annotations

import argparse
import logging
import sys

from chainrule.cli import (
    bench,
    complete,
    compress,
    datasets,
    demo,
    evaluate,
    image_to_image,
    sample,
    score,
    serve,
    train,
    zoo,
)
from chainrule.errors import ChainruleError
from chainrule.version import __version__

COMMANDS = (train, evaluate, sample, complete, image_to_image, score, compress, serve, datasets, demo, bench, zoo)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Autoregressive generative models of discrete data: train, evaluate, sample, complete, compress.",
    )
    parser.add_argument("--version", action="version", version=f"chainrule {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    try:
        return int(args.run(args) or 0)
    except ChainruleError as err:
        print(f"chainrule: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # a file the user named cannot be read or written
        print(f"chainrule: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("chainrule: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
