"""`chainrule compress` and `chainrule decompress`: lossless coding of files with a trained model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from chainrule.cli.common import add_device, load_model
from chainrule.coding import codec, container, files
from chainrule.errors import InputError
from chainrule.serialization import atomic_write_bytes

KINDS = "text (text models), WAV (WaveNet), images: .npy, IDX, a .png file or a folder of them"


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "compress",
        help="compress a file losslessly with a trained model",
        description=f"Compress INPUT with the model in RUN_DIR (arithmetic coding). Inputs: {KINDS}.",
    )
    p.add_argument("run_dir", help="run directory (or a directory written by model.save)")
    p.add_argument("input", help="file (or folder of PNG images) to compress")
    p.add_argument("-o", "--output", required=True, help="compressed file to write")
    p.add_argument("--block", type=int, default=None, help="images per block / tokens per segment (advanced)")
    add_device(p)
    p.set_defaults(run=run_compress)

    p = commands.add_parser(
        "decompress",
        help="decompress a file made by `chainrule compress`",
        description="Decompress IN with the model that compressed it, on the same device type.",
    )
    p.add_argument("run_dir", help="run directory of the model that compressed the file")
    p.add_argument("input", help="compressed file")
    p.add_argument("-o", "--output", required=True, help="file (or folder, for PNG images) to write")
    add_device(p)
    p.set_defaults(run=run_decompress)


def run_compress(args: argparse.Namespace) -> int:
    if args.block is not None and args.block < 1:
        raise InputError(f"--block {args.block} must be at least 1")
    model = load_model(args.run_dir, args.device)
    x, extra, size = files.read_input(model, args.input)
    start = time.perf_counter()
    blob = codec.compress(model, x, extra=extra, original_size=size, block=args.block, progress=True)
    seconds = time.perf_counter() - start
    atomic_write_bytes(args.output, blob)
    bits = 8 * len(blob) / max(1, x.numel())
    print(
        f"{args.input}: {x.numel():,} values, {size:,} bytes → {args.output}: {len(blob):,} bytes "
        f"({bits:.4f} bits/value, {x.numel() / seconds:,.0f} values/s)"
    )
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    blob = Path(args.input).read_bytes()
    header, _ = container.unpack(blob)
    start = time.perf_counter()
    x = codec.decompress(model, blob, progress=True)
    seconds = time.perf_counter() - start
    out = files.write_output(
        model, x, header.extra or {"kind": "npy", "shape": list(x.shape), "dtype": "<i8"}, args.output
    )
    print(f"{args.input} → {out}: {x.numel():,} values ({x.numel() / max(seconds, 1e-9):,.0f} values/s), checksum ok")
    return 0
