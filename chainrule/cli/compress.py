"""`chainrule compress` and `chainrule decompress`: lossless coding of files with a trained model, and lossy coding
of images through a prior over VQ-VAE codes (`--lossy`, `coding.lossy`)."""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from chainrule import zoo
from chainrule.cli.common import add_device, load_model
from chainrule.coding import codec, container, files, lossy
from chainrule.data.inputs import read_input
from chainrule.errors import ConfigError, InputError
from chainrule.models import codes
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
    p.add_argument(
        "--order",
        metavar="NAME",
        help="any-order models (lmconv): code in this named order (default: the first trained one); recorded in "
        "the file",
    )
    p.add_argument(
        "--lossy",
        action="store_true",
        help="RUN_DIR is a prior over VQ-VAE codes: code the images' codes (the VQ-VAE's reconstruction)",
    )
    add_top(p)
    p.add_argument(
        "--class",
        dest="class_id",
        type=int,
        metavar="K",
        help="--lossy with class-conditional priors: the images' class (stored in the file)",
    )
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
    add_top(p)
    add_device(p)
    p.set_defaults(run=run_decompress)


def add_top(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--top",
        metavar="TOP_RUN",
        help="--lossy through a two-level VQ-VAE: RUN_DIR is the bottom codes' prior, TOP_RUN the top codes'",
    )


def run_compress(args: argparse.Namespace) -> int:
    if args.block is not None and args.block < 1:
        raise InputError(f"--block {args.block} must be at least 1")
    if not args.lossy and (args.top or args.class_id is not None):
        raise InputError("--top and --class apply to --lossy compression through priors over VQ-VAE codes")
    model = load_model(args.run_dir, args.device)
    if args.lossy:
        return run_lossy(model, args)
    if model.data_kind.is_codes:
        raise ConfigError(
            f"{args.run_dir} models VQ-VAE codes: it compresses images lossily only (add --lossy); lossless "
            "compression needs a pixel-level model"
        )
    x, extra, size = read_input(model, args.input)
    if extra.get("kind") not in files.FILE_KINDS:  # e.g. GIF: Pillow merges repeated frames when writing one
        raise InputError(
            f"{args.input}: a {extra.get('kind')} file cannot be written back bit for bit; compress its values as .npy"
        )
    start = time.perf_counter()
    blob = codec.compress(model, x, extra=extra, original_size=size, block=args.block, progress=True, order=args.order)
    seconds = time.perf_counter() - start
    atomic_write_bytes(args.output, blob)
    bits = 8 * len(blob) / max(1, x.numel())
    print(
        f"{args.input}: {x.numel():,} values, {size:,} bytes → {args.output}: {len(blob):,} bytes "
        f"({bits:.4f} bits/value, {x.numel() / seconds:,.0f} values/s)"
    )
    return 0


def prior_pair(model, args: argparse.Namespace):
    """The priors (top first) and the VQ-VAE a prior's run keeps; with --top, the top prior of the same VQ-VAE.

    Raises:
        ConfigError: a run that is not a prior over codes; InputError: a top prior of another VQ-VAE."""
    if not model.data_kind.is_codes:
        raise ConfigError(f"--lossy needs a prior over VQ-VAE codes; {args.run_dir} models {model.data_kind.name} data")
    vqvae = codes.decoder_of(zoo.resolve(args.run_dir), args.device)[0]
    if not args.top:
        return [model], vqvae
    if not codes.same_decoder(zoo.resolve(args.run_dir), zoo.resolve(args.top)):
        raise InputError(f"{args.top} and {args.run_dir} are priors of different VQ-VAEs")
    return [load_model(args.top, args.device), model], vqvae


def run_lossy(model, args: argparse.Namespace) -> int:
    priors, vqvae = prior_pair(model, args)
    x, extra, size = read_input(vqvae, args.input)
    start = time.perf_counter()
    classes = None if args.class_id is None else torch.tensor([args.class_id])
    blob = lossy.compress(priors, vqvae, x, classes=classes, extra=extra, original_size=size, progress=True)
    seconds = time.perf_counter() - start
    atomic_write_bytes(args.output, blob)
    back = vqvae.decode(vqvae.encode(x.to(args.device))).cpu()
    error = float((back.double() - x.double()).pow(2).mean())
    peak = vqvae.levels - 1
    psnr = 10 * math.log10(peak**2 / error) if error else math.inf
    pixels = x.numel() // x.shape[1]
    print(
        f"{args.input}: {len(x)} images, {size:,} bytes → {args.output}: {len(blob):,} bytes "
        f"({8 * len(blob) / pixels:.4f} bits/pixel with the header, PSNR {psnr:.2f} dB, {seconds:.1f} s)"
    )
    return 0


def run_decompress(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    blob = Path(args.input).read_bytes()
    if lossy.is_lossy(blob):
        header = lossy.header(blob)
        priors, vqvae = prior_pair(model, args)
        files.check_extra(vqvae, header.extra, (header.count, *vqvae.shape))  # before decoding
        images, extra = lossy.decompress(priors, vqvae, blob, progress=True)
        out = files.write_output(vqvae, images, extra, args.output)
        print(f"{args.input} → {out}: {len(images)} images decoded from their codes (lossy)")
        return 0
    header, _ = container.unpack(blob)
    decoded = (header.count, *model.shape) if header.layout == "array" else (header.count,)
    files.check_extra(model, header.extra, decoded)  # a crafted header is refused before decoding
    start = time.perf_counter()
    x = codec.decompress(model, blob, progress=True)
    seconds = time.perf_counter() - start
    out = files.write_output(model, x, header.extra, args.output)
    print(f"{args.input} → {out}: {x.numel():,} values ({x.numel() / max(seconds, 1e-9):,.0f} values/s), checksum ok")
    return 0
