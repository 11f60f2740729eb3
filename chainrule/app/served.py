"""The models the web app serves: what each is (its page, from its data kind), what its page offers, and the limits
every request is held to."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from chainrule import zoo
from chainrule.data.conditions import ConditionTask
from chainrule.errors import InputError
from chainrule.models import AutoregressiveModel, codes, load
from chainrule.train import run_info

MAX_UPLOAD = 4 * 1024 * 1024  # bytes of one uploaded file
MAX_IMAGES = 64  # samples per request
MAX_COMPLETIONS = 8
MAX_TOKENS = 2000  # characters of one text continuation
MAX_SECONDS = 5.0  # seconds of generated audio
MAX_TEXT = 20_000  # characters of a pasted text
UPLOAD_SUFFIXES = {"image": (".png", ".npy"), "text": (".txt",), "audio": (".wav",)}


@dataclass
class Served:
    """A model the app serves: `name` as the user gave it (a run directory or zoo:NAME), its `kind` ("image",
    "codes", "text" or "audio") and the `tasks` its page offers."""

    name: str
    model: AutoregressiveModel
    run: Path
    kind: str
    tasks: tuple[str, ...]
    examples: Tensor | None = None  # a few test images, for completion, the bits map and image-to-image
    task: ConditionTask | None = None  # what an image-to-image model is given (lowres:F or grey)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        model = self.model
        facts: dict[str, Any] = {
            "name": self.name,
            "family": model.registry_name,
            "kind": self.kind,
            "tasks": list(self.tasks),
            "shape": list(model.shape),
            "levels": model.levels,
            "classes": model.num_classes,
            "examples": 0 if self.examples is None else len(self.examples),
        }
        if self.kind == "audio":
            facts["rate"] = model.data_kind.rate
        if self.task is not None:
            facts["task"] = str(self.task)
            facts["source_shape"] = list(self.task.source_shape(tuple(model.shape)))
        return facts


def kind_of(model: AutoregressiveModel) -> str:
    """The page a model gets, from its data kind.

    Raises:
        InputError: a model the app cannot show (videos, image-to-image models, priors over two-level codes)."""
    kind = model.data_kind
    if kind.is_text:
        return "text"
    if kind.is_audio:
        return "audio"
    if kind.is_video:
        raise InputError(f"the app does not show video models yet ({model.registry_name}): use chainrule sample")
    if model.map_shape and not model.map_levels and not kind.is_codes:
        return "convert"  # image-to-image: upscale or colourise
    if model.map_shape:
        raise InputError("the app does not show a prior over bottom codes yet: use chainrule sample --top")
    return "codes" if kind.is_codes else "image"


TASKS = {
    "image": ("sample", "complete", "bits", "score", "compress"),
    "codes": ("sample",),
    "text": ("continue", "text-bits", "score", "compress"),
    "audio": ("audio", "score", "compress"),
    "convert": ("convert",),
}


def serve(spec: str, device: str = "cpu") -> Served:
    """Load a run or zoo model for the app.

    Raises:
        ChainruleError: a missing run, or a model the app cannot show (`kind_of`)."""
    run = zoo.resolve(spec)
    model = load(run, device)
    if not isinstance(model, AutoregressiveModel):
        raise InputError(f"{spec} holds a {model.registry_name}: serve a prior over its codes")
    model.eval()
    kind = kind_of(model)
    if kind == "codes" and codes.decoder_of(run)[0].config.hierarchy != 1:
        raise InputError(f"{spec} models one grid of a two-level VQ-VAE: the app shows one-level priors only")
    examples, task = None, None
    if kind in ("image", "convert") and (run / "run.json").is_file():  # the run's own test split, as trained
        spec_data = run_info(run)["data"]
        if kind == "convert":
            if not spec_data.get("condition"):
                raise InputError(f"{spec} reads a conditioning image but its run records no --condition")
            task = ConditionTask.parse(spec_data["condition"])
            spec_data = {k: v for k, v in spec_data.items() if k != "condition"}  # the images themselves
        examples = codes.run_data(spec_data, run=run, only=("test",))["test"].x[:16]
    elif kind == "convert":
        raise InputError(f"{spec} reads a conditioning image but has no run.json saying which (lowres:F or grey)")
    return Served(spec, model, run, kind, TASKS[kind], examples, task)


def check_count(value: int, most: int, what: str) -> int:
    if not 1 <= value <= most:
        raise InputError(f"{what} must be 1..{most}")
    return value


def seeded(seed: int | None) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) if seed is not None else int(time.time_ns() % 2**31))
