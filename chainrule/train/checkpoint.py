"""Resumable training checkpoints: weights, optimizer state, RNG and loop counters, without pickle.

Each save goes to a fresh folder `checkpoint/step-NNNNNNNN/`; only when all its files are on disk is the pointer
`checkpoint/latest.json` replaced (atomic rename), then older folders are removed. A kill at any moment leaves
the previous complete checkpoint in place.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from chainrule import serialization
from chainrule.errors import CheckpointError

POINTER = "latest.json"


def optimizer_tensors(
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """Flatten an optimizer state dict: per-parameter tensors by key "param.name", groups as JSON."""
    state = optimizer.state_dict()
    tensors = {}
    for index, values in state["state"].items():
        for name, value in values.items():
            tensors[f"{index}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    return tensors, state["param_groups"]


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    try:
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError, TypeError) as err:
        raise CheckpointError(f"optimizer state does not fit the model ({err})") from None


def save(
    directory: Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loop_state: dict[str, Any],
    extra: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write a complete checkpoint for `step` and point `latest.json` at it; `extra` tensors (the EMA weights)
    go to `extra.safetensors`."""
    directory.mkdir(parents=True, exist_ok=True)
    folder = directory / f"step-{step:09d}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir()
    serialization.write_tensors(folder / "model.safetensors", model.state_dict())
    tensors, groups = optimizer_tensors(optimizer)
    tensors["rng.torch"] = torch.get_rng_state()
    serialization.write_tensors(folder / "optimizer.safetensors", tensors)
    if extra:
        serialization.write_tensors(folder / "extra.safetensors", extra)
    serialization.write_json(folder / "state.json", {**loop_state, "param_groups": groups})
    serialization.write_json(directory / POINTER, {"folder": folder.name, "step": step})
    for old in directory.glob("step-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder


def exists(directory: Path) -> bool:
    return (directory / POINTER).is_file()


def load(
    directory: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Restore the latest checkpoint into `model` and `optimizer`; returns the loop state and the extra tensors
    ({} when none were saved).

    Raises:
        CheckpointError: when there is none or it is corrupt.
    """
    pointer = serialization.read_json(directory / POINTER)
    name = pointer.get("folder", "") if isinstance(pointer, dict) else ""
    if not name.startswith("step-") or "/" in name or "\\" in name or ".." in name:
        raise CheckpointError(f"{directory / POINTER} is corrupt")
    folder = directory / name
    weights = serialization.read_tensors(folder / "model.safetensors")
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise CheckpointError(f"{folder} holds weights of another model") from None
    tensors = serialization.read_tensors(folder / "optimizer.safetensors")
    torch.set_rng_state(tensors.pop("rng.torch"))
    state = serialization.read_json(folder / "state.json")
    restore_optimizer(optimizer, tensors, state.pop("param_groups"))
    extra = serialization.read_tensors(folder / "extra.safetensors") if (folder / "extra.safetensors").exists() else {}
    return state, extra
