"""`chainrule sample`: draw samples from a trained model: images into a PNG grid (a prior over VQ-VAE codes: its
codes decoded by the VQ-VAE its run keeps), text streamed to the terminal (and to a file with -o)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from chainrule import zoo
from chainrule.cli.audio_io import write_generated
from chainrule.cli.common import add_device, count, generator, load_model, temperature
from chainrule.data import Condition
from chainrule.data.vocabulary import TextStream
from chainrule.errors import InputError
from chainrule.media import save_grid
from chainrule.media.video import save_video
from chainrule.models import codes
from chainrule.sampling import generate


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("sample", help="draw samples", description="Sample from a trained model.")
    p.add_argument("run_dir", help="run directory")
    p.add_argument("-n", type=count, help="number of samples (default 16 images, 4 videos, 1 audio clip)")
    p.add_argument(
        "-o",
        "--output",
        help="output file (images: default samples.png; videos: samples.gif, or .png strip, .npy; text: also printed)",
    )
    p.add_argument("--temperature", type=temperature, default=1.0)
    p.add_argument("--prompt", default="", help="text models: text to continue")
    p.add_argument("--length", type=int, default=500, help="text models: tokens to generate (default 500)")
    p.add_argument("--top-k", type=int, help="text models: draw from the k most likely tokens only")
    p.add_argument("--seconds", type=float, default=1.0, help="audio models: length of each clip (default 1)")
    p.add_argument("--class", dest="label", type=int, help="class id for class-conditional models")
    p.add_argument("--per-class", type=int, metavar="N", help="a grid of N samples for every class (one row each)")
    p.add_argument(
        "--top",
        metavar="RUN",
        help="a prior over the bottom codes of a VQ-VAE-2: the prior of its top codes, sampled first (its map)",
    )
    p.add_argument("--seed", type=int, help="random seed (default: fresh)")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    kind = model.data_kind
    if kind.is_text:
        return sample_text(model, args)
    if kind.is_audio:
        gen = generator(args.seed, args.device)
        write_generated(
            model,
            torch.zeros(0, dtype=torch.long),
            args.seconds,
            args.n or 1,
            args.output or "samples.wav",
            args.temperature,
            gen,
        )
        return 0
    if args.prompt or args.top_k:
        raise InputError("--prompt and --top-k apply to text models")
    if kind.is_video:
        output = args.output or "samples.gif"
        x = model.sample(args.n or 4, temperature=args.temperature, generator=generator(args.seed, args.device))
        save_video(x, model.levels, output)
        print(f"wrote {len(x)} videos of {model.shape[0]} frames to {output}")
        return 0
    args.output = args.output or "samples.png"
    n, columns, cond = args.n or 16, None, None
    if args.per_class:
        if not model.num_classes:
            raise InputError("--per-class needs a class-conditional model (trained with --set num_classes=N)")
        n, columns = args.per_class * model.num_classes, args.per_class
        cond = torch.arange(model.num_classes, device=args.device).repeat_interleave(args.per_class)
    elif args.label is not None:
        cond = torch.full((n,), args.label, dtype=torch.long, device=args.device)
    gen = generator(args.seed, args.device)
    if model.map_shape and not model.map_levels:  # a map of values: an image-to-image model
        raise InputError(
            f"{args.run_dir} draws images given a conditioning image: use chainrule upscale or chainrule colourise"
        )
    top = sample_top(model, args, n, cond, gen) if model.map_shape else None
    if top is not None:  # the bottom codes read the top codes (and the class, if any)
        cond = Condition(classes=cond, map=top)
    elif args.top:
        raise InputError("--top applies to a prior over the bottom codes of a VQ-VAE-2 (one that reads a map)")
    x = model.sample(n, cond=cond, temperature=args.temperature, generator=gen)
    levels = model.levels
    if kind.is_codes:  # draw codes, show the images they decode to
        x, levels = codes.decode_samples(zoo.resolve(args.run_dir), x, top)
    if kind.is_codes and codes.decodes_videos(zoo.resolve(args.run_dir)):  # codes of videos: the videos they decode to
        args.output = "samples.gif" if args.output == "samples.png" else args.output
        save_video(x, levels, args.output)
    else:
        save_grid(x, levels, args.output, columns=columns)
    if kind.is_codes:  # say which VQ-VAE copy decoded them
        folder = codes.decoder_folder(zoo.resolve(args.run_dir))
        what = "videos" if codes.decodes_videos(zoo.resolve(args.run_dir)) else "samples"
        print(f"wrote {n} {what} to {args.output} (codes decoded by {folder}, digest checked)")
    else:
        print(f"wrote {n} samples to {args.output}")
    return 0


def sample_top(model, args: argparse.Namespace, n: int, cond, gen: torch.Generator) -> torch.Tensor:
    """The top codes for a bottom prior: drawn from the top prior `--top`, which must keep the same VQ-VAE."""
    if not args.top:
        raise InputError(f"{args.run_dir} reads a map of top codes: name the top codes' prior with --top RUN")
    top = load_model(args.top, args.device)
    if not codes.same_decoder(zoo.resolve(args.run_dir), zoo.resolve(args.top)):
        raise InputError(f"{args.top} and {args.run_dir} are priors of different VQ-VAEs")
    if tuple(top.shape) != model.map_shape or top.levels != model.map_levels:
        raise InputError(f"{args.top} models {tuple(top.shape)} codes; {args.run_dir} reads {model.map_shape}")
    return top.sample(n, cond=cond if top.num_classes else None, temperature=args.temperature, generator=gen)


def sample_text(model, args: argparse.Namespace) -> int:
    """Continue `--prompt` by `--length` tokens, streaming the text to stdout as it is drawn."""
    vocabulary = model.vocabulary
    prompt = vocabulary.encode(args.prompt, "the prompt")
    stream = TextStream(vocabulary)

    def show(token: int) -> None:
        sys.stdout.write(stream.push(token))
        sys.stdout.flush()

    sys.stdout.write(args.prompt)
    tokens = generate(
        model,
        prompt,
        args.length,
        temperature=args.temperature,
        top_k=args.top_k,
        generator=generator(args.seed, args.device),
        on_token=show,
    )
    sys.stdout.write("\n")
    if args.output:
        Path(args.output).write_text(args.prompt + vocabulary.decode(tokens), encoding="utf-8")
        print(f"wrote {args.output}")
    return 0
