"""`chainrule complete`: hide part of some images and let the model fill it in."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from chainrule import zoo
from chainrule.cli.audio_io import read_prompt, write_generated
from chainrule.cli.common import add_device, count, generator, load_model, run_data, temperature
from chainrule.data.inputs import read_input
from chainrule.data.video import read_videos
from chainrule.errors import InputError
from chainrule.media import save_grid
from chainrule.media.video import save_video
from chainrule.models import codes
from chainrule.sampling import DEFAULT_PARTICLES, REGIONS, Completion, complete, default_particles, hide
from chainrule.sampling.completion import summary


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "complete",
        help="fill in hidden parts of images",
        description="Writes rows: originals, masked inputs, completions. Hidden pixels are drawn so that they fit "
        "the known pixels around them, also those later in the model's order (N candidates per image, resampled "
        "by their fit; the effective sample size is printed).",
    )
    p.add_argument("run_dir", help="run directory")
    p.add_argument(
        "input",
        nargs="?",
        help="PNG file or folder, .npy/.npz, or dataset name: all its images (default: the run's test split); "
        "for audio models a WAV file to continue",
    )
    p.add_argument("--seconds", type=float, default=1.0, help="audio models: seconds to add (default 1)")
    p.add_argument("-o", "--output", default="completions.png")
    p.add_argument("-n", type=count, help="number of images (default 8) or videos (default 2)")
    p.add_argument("--hide", choices=REGIONS, help="images: region to hide (default bottom half)")
    p.add_argument("--temperature", type=temperature, default=1.0)
    p.add_argument(
        "--particles",
        type=int,
        help="candidates per image, resampled by how well they fit the known pixels that come after hidden ones "
        f"(default: {DEFAULT_PARTICLES} where the region leaves known pixels after hidden ones, as for top, left, "
        "right and center; 1 for bottom, where plain sampling is exact)",
    )
    p.add_argument(
        "--given",
        type=int,
        metavar="G",
        help="videos: frames given, the rest predicted (default: all frames of a shorter input; else half)",
    )
    p.add_argument("--seed", type=int)
    add_device(p)
    p.set_defaults(run=run)


def completion_rows(
    model, x: torch.Tensor, region: str, temperature: float, gen: torch.Generator, particles: int | None = None
) -> tuple[torch.Tensor, torch.Tensor, Completion]:
    """(originals, masked, completions) stacked for a grid, the hidden-entry mask, and the completion with its
    effective sample sizes. particles None: DEFAULT_PARTICLES where known values follow hidden ones, else 1."""
    known = hide(x, region)
    if particles is None:
        particles = default_particles(model, known)
    done = complete(model, known.to(gen.device), particles, temperature=temperature, generator=gen)
    missing = known < 0
    masked = x.clone()
    grid = torch.cat([x, masked, done.x.cpu()])
    return grid, torch.cat([torch.zeros_like(missing), missing, torch.zeros_like(missing)]), done


def complete_codes(prior, args: argparse.Namespace) -> int:
    """A prior over VQ-VAE codes: encode the images, hide the region of their code grids, complete the codes
    (seeing every known code), decode. Rows: originals, masked (the hidden codes' pixels marked), completions."""
    run = zoo.resolve(args.run_dir)
    vqvae, _ = codes.decoder_of(run, args.device)
    if vqvae.config.hierarchy != 1 or prior.map_shape:
        raise InputError("complete takes a prior over the codes of a one-level VQ-VAE")
    if args.input:
        x = read_input(vqvae, args.input)[0][: args.n]
    else:
        x = codes.image_split(run, "test").x[: args.n]
    grids = vqvae.encode(x.to(args.device))[0]
    gen = generator(args.seed, args.device)
    _, code_missing, done = completion_rows(prior, grids.cpu(), args.hide, args.temperature, gen, args.particles)
    n, factor = len(x), vqvae.config.downsample
    hidden = code_missing[n : 2 * n].repeat_interleave(factor, 2).repeat_interleave(factor, 3)
    hidden = hidden.expand(-1, vqvae.shape[0], -1, -1)
    grid = torch.cat([x, x, vqvae.decode([done.x.to(args.device)]).cpu()])
    missing = torch.cat([torch.zeros_like(hidden), hidden, torch.zeros_like(hidden)])
    save_grid(grid, vqvae.levels, args.output, columns=n, missing=missing)
    print(f"wrote originals / masked / completions (decoded from completed codes) of {n} images to {args.output}")
    print(f"{args.hide} hidden: {summary(done)}")
    return 0


def complete_video(model, args: argparse.Namespace) -> int:
    """Continue videos: their first G frames given, the rest drawn (exactly: every known value comes first). The
    output shows the truth beside each prediction when the input holds it."""
    frames = model.shape[0]
    if args.input:
        array, _ = read_videos(Path(args.input), tuple(model.shape), model.levels, frames_at_most=True)
        x = torch.from_numpy(np.ascontiguousarray(array[: args.n]).astype(np.int64))
    else:
        x = run_data(args.run_dir, "test").x[: args.n]
    held = x.shape[1]
    given = args.given if args.given is not None else (held if held < frames else frames // 2)
    if not 1 <= given <= min(held, frames - 1):
        raise InputError(f"--given {given}: give 1 .. {min(held, frames - 1)} frames (the input holds {held})")
    known = torch.full((len(x), *model.shape), -1, dtype=torch.long)
    known[:, :given] = x[:, :given]
    gen = generator(args.seed, args.device)
    start = time.perf_counter()
    done = model.sample(len(x), known=known.to(args.device), temperature=args.temperature, generator=gen).cpu()
    seconds = time.perf_counter() - start
    output = args.output if args.output != "completions.png" else "predicted.gif"
    truth = x if held == frames else None
    shown = done if truth is None else torch.stack([truth, done], dim=1).flatten(0, 1)
    save_video(shown, model.levels, output, columns=1 if truth is None else 2, given=given)
    strip = Path(output).suffix.lower() == ".png"  # one row per video, one column per frame
    where = "above" if strip else "left of"
    pairs = f"the truth ({where}) each prediction" if truth is not None else "the predictions"
    print(
        f"wrote {len(x)} videos to {output}: {pairs}; frames 1-{given} given"
        f"{'' if strip else ' (grey rim)'}, {given + 1}-{frames} predicted{'' if strip else ' (red rim)'}, drawn "
        f"exactly given the known frames ({seconds / len(x):.1f} s per video)"
    )
    return 0


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    if model.data_kind.is_audio:
        if not args.input:
            raise InputError("give the WAV file to continue: chainrule complete RUN_DIR INPUT.wav")
        output = args.output if args.output.endswith(".wav") else "completion.wav"
        prompt = read_prompt(model, args.input)
        write_generated(model, prompt, args.seconds, 1, output, args.temperature, generator(args.seed, args.device))
        return 0
    if model.data_kind.is_video:
        if args.hide is not None:
            raise InputError("--hide applies to images; a video model is given its first frames: --given G")
        args.n = args.n or 2
        return complete_video(model, args)
    if args.given is not None:
        raise InputError("--given applies to video models (frames given, the rest predicted)")
    args.n, args.hide = args.n or 8, args.hide or "bottom"
    if model.data_kind.is_codes:
        return complete_codes(model, args)
    # a dataset name or a user's file, read as the run's data was (its levels and binarization)
    data = run_data(args.run_dir, "all" if args.input else "test", args.input)
    if data.shape != model.shape or data.levels != model.levels:
        raise InputError(f"{data.description} does not fit the model (shape {model.shape}, {model.levels} levels)")
    x = data.x[: args.n]
    if args.particles is not None and args.particles < 1:
        raise InputError(f"--particles {args.particles} must be at least 1")
    gen = generator(args.seed, args.device)
    grid, missing, done = completion_rows(model, x, args.hide, args.temperature, gen, args.particles)
    save_grid(grid, model.levels, args.output, columns=len(x), missing=missing)
    print(f"wrote originals / masked / completions of {len(x)} images to {args.output}")
    print(f"{args.hide} hidden: {summary(done)}")
    if args.temperature != 1.0 and done.particles > 1:
        print(f"target: the model at temperature {args.temperature} conditioned on the known pixels")
    if done.particles > 1 and args.hide == "top":
        print(
            "(top hidden: every known pixel comes after the hidden ones, so the weights arrive at once and the "
            "effective sample size stays near 1: the completion is the best fit of the candidates)"
        )
    return 0
