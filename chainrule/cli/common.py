"""Helpers shared by the commands: loading a run, the device, a seeded generator."""

from __future__ import annotations

import argparse
import math

import torch

from chainrule import zoo
from chainrule.data import Dataset, load
from chainrule.data.sources import spec_kind_name
from chainrule.errors import CheckpointError, ConfigError
from chainrule.models import AutoregressiveModel, codes
from chainrule.models import load as load_model_dir
from chainrule.train import run_info


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def check_device(device: str) -> str:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"--device {device!r}; choose cpu or cuda")
    return device


def load_model(run_dir: str, device: str = "cpu") -> AutoregressiveModel:
    """The best model of a run directory (or a directory written by `model.save`, or `zoo:NAME`): an exact-likelihood
    model (a VQ-VAE is refused: its images are sampled, scored and coded through a prior over its codes).

    Raises:
        ConfigError: for a VQ-VAE run."""
    model = load_model_dir(zoo.resolve(run_dir), check_device(device))
    if not isinstance(model, AutoregressiveModel):
        raise ConfigError(
            f"{run_dir} holds a {model.registry_name} (no exact likelihood of its own): train a prior on its codes "
            f"(chainrule train --model pixelsnail --data codes:{run_dir}) and use the prior's run"
        )
    return model


def run_data(run_dir: str, split: str, data: str | None = None) -> Dataset:
    """A split of the data a run was trained on (or of `data`, at the run's levels)."""
    try:
        spec = run_info(zoo.resolve(run_dir))["data"]
    except CheckpointError:
        if data is None:
            raise CheckpointError(f"{run_dir} has no run.json; name the data with --data") from None
        spec = {"name": data, "levels": None, "binarize": None}
    name, run = data or spec["name"], zoo.resolve(run_dir)
    if spec_kind_name(spec) in ("audio", "text", "codes"):  # streams and codes have no "all": the test split
        wanted = split if split != "all" else "test"
        return codes.run_data(spec, name, run, only=(wanted,))[wanted]
    if split == "all":
        return load(name, "all", spec["levels"], spec["binarize"])
    return codes.run_data(spec, name, run, only=(split,))[split]


def generator(seed: int | None, device: str = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(seed if seed is not None else torch.seed())
    return g


def _argument(text: str, convert, valid, needs: str):
    """`text` converted, or an argparse error saying what it must be."""
    try:
        value = convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {needs}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"{text} must be {needs}")
    return value


def count(text: str) -> int:
    """argparse type of a count such as -n: an integer ≥ 1."""
    return _argument(text, int, lambda v: v >= 1, "an integer of at least 1")


def temperature(text: str) -> float:
    """argparse type of a temperature: a finite positive number."""
    return _argument(text, float, lambda v: math.isfinite(v) and v > 0, "a finite positive number")
