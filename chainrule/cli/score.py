"""`chainrule score`: how unusual inputs are under a trained model (anomaly and out-of-distribution scores), for
every data kind: images (.npy/.npz, PNG file or folder, IDX), text files, WAV recordings."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from chainrule.cli.common import add_device, load_model
from chainrule.data.inputs import read_input
from chainrule.errors import InputError
from chainrule.sampling import REGIONS, hide
from chainrule.scoring import METHODS, dimension_bits, hidden_bits, per_input, scores_and_bits, validation_bits

EXPLAIN = {
    "likelihood": "bits per dimension (−log2 p(x) / D)",
    "ratio": "bits/dim under the model minus under the background model",
    "complexity": "bits/dim under the model minus the compressor's bits/dim",
    "typicality": "|mean bits/dim of the batch − the validation bits/dim|",
}


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "score",
        help="how unusual inputs are under a model (higher = more unusual)",
        description="Score inputs under a trained model: images (.npy/.npz, PNG file or folder, IDX), text files or "
        "WAV files. Higher scores mean more unusual inputs for every method.",
    )
    p.add_argument("run_dir", help="run directory (or zoo:NAME)")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders of the model's kind of data")
    p.add_argument("--method", choices=METHODS, default="likelihood", help="default: likelihood (bits/dim)")
    p.add_argument("--background", metavar="RUN", help="ratio: the background model (trained with --perturb)")
    p.add_argument("--batch", type=int, metavar="M", help="typicality: inputs per batch")
    p.add_argument("--reference", type=float, help="typicality: the validation bits/dim (default: the run's)")
    p.add_argument(
        "--codec",
        choices=["png", "jpegxl", "bzip2"],
        help="complexity: the compressor (default: jpegxl for images where cjxl is installed, else png; bzip2 for "
        "text and audio)",
    )
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument(
        "--map",
        metavar="OUT",
        help="draw where the bits go: images beside a heat map of bits per pixel (PNG), text shaded per character "
        "(HTML), audio bits per sample over time (PNG)",
    )
    given = p.add_mutually_exclusive_group()
    given.add_argument(
        "--given",
        metavar="MASK",
        help="score the hidden values given the known ones, exactly: a mask file (.npy of (H, W), (C, H, W) or one "
        "per input; or a PNG), nonzero where a value is given",
    )
    given.add_argument(
        "--hide",
        choices=REGIONS,
        help="score the values of this region given the rest, exactly (any region for an any-order model; for "
        "others only where the rest comes first in their order)",
    )
    add_device(p)
    p.set_defaults(run=run)


def read_mask(path: str, shape: tuple[int, ...], count: int) -> torch.Tensor:
    """A known-values mask from a .npy or PNG file: bool, broadcastable to (count, *shape).

    Raises:
        InputError: an unreadable file or a mask of another size."""
    source = Path(path)
    if not source.is_file():
        raise InputError(f"{path}: no such mask file")
    try:
        if source.suffix.lower() == ".npy":
            mask = torch.from_numpy(np.load(source, allow_pickle=False) != 0)
        else:
            with Image.open(source) as image:
                mask = torch.from_numpy(np.asarray(image.convert("L")) != 0)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a mask (.npy or an image): {error}") from None
    c, h, w = shape
    fits = {(h, w): lambda m: m[None, None], (c, h, w): lambda m: m[None], (count, c, h, w): lambda m: m}
    if count > 0 and c == 1:
        fits[(count, h, w)] = lambda m: m[:, None]
    shaped = fits.get(tuple(mask.shape))
    if shaped is None:
        raise InputError(f"{path}: a mask of shape {tuple(mask.shape)}; this model's inputs are {count} x {shape}")
    return shaped(mask).expand(count, c, h, w)


def run_hidden(model, x: torch.Tensor, names: list[str], args: argparse.Namespace) -> int:
    """`--given` / `--hide`: bits per hidden value of each input given its known values."""
    if not model.data_kind.is_image:
        raise InputError("--given and --hide score image regions; this model holds " + model.data_kind.name)
    if args.method != "likelihood" or args.map:
        raise InputError("--given / --hide score the hidden values by their likelihood: no --method, no --map")
    known = read_mask(args.given, model.shape, len(x)) if args.given else hide(torch.zeros_like(x), args.hide) >= 0
    nats, hidden = hidden_bits(model, x, known)
    rows = [
        {"input": n, "hidden": int(k), "bits/hidden value": float(v / (k * math.log(2)))}
        for n, v, k in zip(names, nats, hidden, strict=True)
    ]
    if args.json:
        print(json.dumps({"score": "−log2 p(hidden | known) per hidden value (exact)", "rows": rows}, indent=1))
        return 0
    print("score: bits per hidden value, −log2 p(x_hidden | x_known) / hidden values, exact; higher = more unusual")
    width = max(40, *(len(r["input"]) for r in rows))
    print(f"{'input':{width}} {'hidden':>8} {'bits/hidden':>12}")
    for r in rows:
        print(f"{r['input']:{width}} {r['hidden']:>8,} {r['bits/hidden value']:>12.4f}")
    return 0


def read_inputs(model, paths: list[str]) -> tuple[torch.Tensor | list[torch.Tensor], list[str]]:
    """The inputs as the scorer takes them, and a name for each."""
    stream = model.data_kind.is_text or model.data_kind.is_audio
    values, names = [], []
    for path in paths:
        x, extra, _ = read_input(model, path)
        if stream:
            values.append(x)
            names.append(path)
        elif Path(path).is_dir():  # a PNG folder: each image by its file name
            values.append(x)
            names += [f"{path}/{name}" for name in extra["names"]]
        else:
            values.append(x)
            names += [path] if len(x) == 1 else [f"{path}[{i}]" for i in range(len(x))]
    return (values if stream else torch.cat(values)), names


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    background = load_model(args.background, args.device) if args.background else None
    reference = args.reference
    if args.method == "typicality" and reference is None:
        reference = validation_bits(args.run_dir)
        if reference is None:
            raise InputError(f"{args.run_dir} records no validation figure; give --reference BITS_PER_DIM")
    x, names = read_inputs(model, args.inputs)
    if args.given or args.hide:
        return run_hidden(model, x, names, args)
    progress = sys.stderr.isatty()
    bits = dimension_bits(model, x, progress=progress) if args.map else None  # the map's, and the scores' too
    scores, bpd, codec = scores_and_bits(
        model,
        x,
        args.method,
        background,
        batch=args.batch,
        reference=reference,
        codec=args.codec,
        progress=progress,
        bpd=None if bits is None else per_input(bits),
    )
    unit = f"bits/{model.data_kind.unit}"
    dims = [len(t) for t in x] if isinstance(x, list) else [model.dims] * len(names)
    if args.method == "typicality":
        groups = [names[i : i + args.batch] for i in range(0, len(names), args.batch)]
        means = [float(bpd[i : i + args.batch].double().mean()) for i in range(0, len(names), args.batch)]
        rows = [
            {
                "input": f"{g[0]} .. {g[-1]} ({len(g)})",
                "dims": sum(dims[i * args.batch : (i + 1) * args.batch]),
                unit: m,
                args.method: float(s),
            }
            for i, (g, m, s) in enumerate(zip(groups, means, scores, strict=True))
        ]
    else:
        rows = [
            {"input": n, "dims": d, unit: float(b), args.method: float(s)}
            for n, d, b, s in zip(names, dims, bpd, scores, strict=True)
        ]
    if args.map:
        draw_map(model, x, bits, names, args.map)
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    about = {"method": args.method, "score": EXPLAIN[args.method], "codec": codec, "reference": reference}
    if args.json:
        print(json.dumps({**{k: v for k, v in about.items() if v is not None}, "rows": rows}, indent=1))
        return 0
    print(f"score: {EXPLAIN[args.method]}" + (f"; compressor: {codec}" if codec else "") + "; higher = more unusual")
    width = max(40, *(len(r["input"]) for r in rows))
    print(f"{'input':{width}} {'dims':>10} {unit:>12} {args.method:>12}")
    for r in rows:
        print(f"{r['input']:{width}} {r['dims']:>10,} {r[unit]:>12.4f} {r[args.method]:>12.4f}")
    return 0


def draw_map(model, x, bits, names: list[str], out: str) -> None:
    """`--map OUT`: the picture of each input's bits per dimension (`dimension_bits`) for the model's kind."""
    from chainrule.media import bitmaps

    kind = model.data_kind
    if kind.is_text:
        path = out if out.lower().endswith((".html", ".htm")) else out + ".html"
        bitmaps.text_map(list(zip(names, x, bits, strict=True)), kind.vocabulary, path)
    elif kind.is_audio:
        path = out if out.lower().endswith(".png") else out + ".png"
        bitmaps.audio_map(list(zip(names, bits, strict=True)), kind.rate, path)
    elif kind.is_image:
        path = out if out.lower().endswith(".png") else out + ".png"
        bitmaps.image_map(x, bits, model.levels, path)
    elif kind.is_video:
        path = out if out.lower().endswith(".png") else out + ".png"
        bitmaps.video_map(x, bits, model.levels, path)
    else:
        raise InputError(f"--map draws images, videos, text and audio; this model holds {kind.name}")
    print(f"wrote {path}", file=sys.stderr)
