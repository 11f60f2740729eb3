"""`chainrule complete`: hide part of some images and let the model fill it in."""

from __future__ import annotations

import argparse

import torch

from chainrule.cli.audio_io import is_audio_model, read_prompt, write_generated
from chainrule.cli.common import add_device, generator, load_model, run_data
from chainrule.errors import InputError
from chainrule.media import save_grid
from chainrule.sampling import REGIONS, hide


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "complete",
        help="fill in hidden parts of images",
        description="Writes rows: originals, masked inputs, completions.",
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
    p.add_argument("-n", type=int, default=8, help="number of images (default 8)")
    p.add_argument("--hide", default="bottom", choices=REGIONS, help="region to hide (default bottom half)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    add_device(p)
    p.set_defaults(run=run)


def completion_rows(model, x: torch.Tensor, region: str, temperature: float, gen: torch.Generator):
    """(originals, masked, completions) stacked for a grid, and the hidden-entry mask."""
    known = hide(x, region)
    done = model.sample(len(x), known=known.to(gen.device), temperature=temperature, generator=gen).cpu()
    missing = known < 0
    masked = x.clone()
    return torch.cat([x, masked, done]), torch.cat([torch.zeros_like(missing), missing, torch.zeros_like(missing)])


def run(args: argparse.Namespace) -> int:
    model = load_model(args.run_dir, args.device)
    if is_audio_model(model):
        if not args.input:
            raise InputError("give the WAV file to continue: chainrule complete RUN_DIR INPUT.wav")
        output = args.output if args.output.endswith(".wav") else "completion.wav"
        prompt = read_prompt(model, args.input)
        write_generated(model, prompt, args.seconds, 1, output, args.temperature, generator(args.seed, args.device))
        return 0
    data = run_data(args.run_dir, "all" if args.input else "test", args.input)
    if data.shape != model.shape or data.levels != model.levels:
        raise InputError(f"{data.description} does not fit the model (shape {model.shape}, {model.levels} levels)")
    x = data.x[: args.n]
    grid, missing = completion_rows(model, x, args.hide, args.temperature, generator(args.seed, args.device))
    save_grid(grid, model.levels, args.output, columns=len(x), missing=missing)
    print(f"wrote originals / masked / completions of {len(x)} images to {args.output}")
    return 0
