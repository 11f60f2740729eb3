"""`chainrule upscale` and `chainrule colourise`: image-to-image sampling with a model trained with `--condition
lowres:F` (super-resolution, Dahl et al. 2017, arXiv 1702.00783) or `--condition grey` (colourisation).

Each IMAGE is the conditioning image (low-resolution, or grey); an image already at the model's size is reduced
(or made grey) first and its original shown beside the results; any other size is refused. The PNG grid has a row
per input: the input (enlarged to the output size), bicubic interpolation (super-resolution), `-n` samples, and the
original where known.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

from chainrule import zoo
from chainrule.cli.common import add_device, count, generator, load_model, temperature
from chainrule.data import Condition
from chainrule.data.conditions import ConditionTask
from chainrule.data.inputs import read_arrays
from chainrule.errors import InputError
from chainrule.media import save_grid
from chainrule.train import run_info

COMMANDS = {"upscale": "lowres", "colourise": "grey"}


def add_parser(commands: argparse._SubParsersAction) -> None:
    helps = {
        "upscale": "draw high-resolution images given low-resolution ones (a model trained with --condition lowres:F)",
        "colourise": "draw colour images given grey ones (a model trained with --condition grey)",
    }
    for name, task in COMMANDS.items():
        p = commands.add_parser(name, help=helps[name], description=__doc__)
        p.add_argument("run_dir", help=f"a run trained with --condition {'lowres:F' if task == 'lowres' else 'grey'}")
        p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG files or folders, or .npy arrays (N, [C,] H, W)")
        p.add_argument("-o", "--output", default=f"{name}.png", help=f"the PNG grid (default {name}.png)")
        p.add_argument("-n", type=count, default=4, help="samples per input (default 4)")
        p.add_argument("--temperature", type=temperature, default=1.0)
        p.add_argument("--seed", type=int)
        add_device(p)
        p.set_defaults(run=partial(run, task_name=task))


def model_task(run_dir: str, task_name: str) -> ConditionTask:
    """The task the run was trained for.

    Raises:
        InputError: a run trained without that kind of condition."""
    spec = run_info(zoo.resolve(run_dir))["data"].get("condition")
    task = ConditionTask.parse(spec) if spec else None
    if task is None or task.name != task_name:
        want = "--condition lowres:F" if task_name == "lowres" else "--condition grey"
        raise InputError(f"{run_dir} was trained {'with --condition ' + str(task) if task else 'unconditionally'}; "
                         f"this command needs a run trained with {want}")  # fmt: skip
    return task


def read_images(paths: list[str], levels: int) -> list[np.ndarray]:
    """Every image of the given files and folders (PNG, .npy, .npz, IDX: `data.inputs.read_arrays`), (C, H, W)
    integer arrays."""
    images = []
    for name in paths:
        path = Path(name)
        if not path.exists():
            raise InputError(f"{path}: no such file or folder")
        array, _ = read_arrays(path, levels)
        if array.ndim not in (3, 4):
            raise InputError(f"{path}: need images (N, H, W) or (N, C, H, W), got shape {array.shape}")
        images += list(array[:, None] if array.ndim == 3 else array)
    return images


def run(args: argparse.Namespace, task_name: str) -> int:
    if args.n < 1:
        raise InputError(f"-n {args.n} must be at least 1")
    model = load_model(args.run_dir, args.device)
    task = model_task(args.run_dir, task_name)
    shape, levels = tuple(model.shape), model.levels
    sources, originals = task.prepare(read_images(args.images, levels), shape, levels)
    cond = Condition(map=task.to_map(sources, levels).repeat_interleave(args.n, 0).to(args.device))
    start = time.perf_counter()
    drawn = model.sample(len(sources) * args.n, cond=cond, temperature=args.temperature,
                         generator=generator(args.seed, args.device)).cpu()  # fmt: skip
    seconds = time.perf_counter() - start
    rows = []
    for i, original in enumerate(originals):
        row = [task.shown(sources[i : i + 1], shape, levels, "nearest")]
        if task.name == "lowres":
            row.append(task.shown(sources[i : i + 1], shape, levels, "bicubic"))
        row.append(drawn[i * args.n : (i + 1) * args.n])
        row.append(original[None] if original is not None else torch.zeros(1, *shape, dtype=torch.long))
        rows.append(torch.cat(row))
    save_grid(torch.cat(rows), levels, args.output, columns=len(rows[0]))
    columns = "input, " + ("bicubic, " if task.name == "lowres" else "") + f"{args.n} samples, original"
    print(f"wrote {len(sources)} rows ({columns}) to {args.output}; {seconds / len(sources):.2f} s per input")
    return 0
