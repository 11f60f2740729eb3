"""Bits per character of a trained Transformer on a split of its text, scored with windows of several lengths
(train short, score long: rotary positions extend past the trained context; learned ones only go shorter).

    .venv/bin/python scripts/text_context.py RUN_DIR --contexts 64 128 [--split test]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import chainrule as cr  # noqa: E402
from chainrule import serialization  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--contexts", type=int, nargs="+", required=True)
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    data = serialization.read_json(args.run / "run.json")["data"]
    tokens = cr.data.load_splits(data["name"], vocab=data["vocab"], length=data["length"])[args.split].tokens
    model = cr.load(args.run).eval()
    print(f"| context | stride | {args.split} bits/char | seconds |")
    print("|---:|---:|---:|---:|")
    for context in args.contexts:
        started = time.perf_counter()
        nats = -float(model.stream_log_probs(tokens, context=context).double().sum())
        bits = nats / math.log(2) / len(tokens)
        print(f"| {context} | {max(1, context // 2)} | {bits:.4f} | {time.perf_counter() - started:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
