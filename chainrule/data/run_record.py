"""A training run's record `run.json` (what was trained, on what data, how), read back with its structure checked.

The model and coding layers read a run's data spec (a latent prior's VQ-VAE run, the data a run was trained on)
through here, so that a crafted or damaged run.json is one CheckpointError wherever it is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainrule import serialization
from chainrule.data.sources import spec_kind_name
from chainrule.errors import ChainruleError, CheckpointError

RUN_FILE = "run.json"


def run_info(run_dir: str | Path) -> dict[str, Any]:
    """The `run.json` of a training run directory (model, data and training settings), its structure checked: a
    "model" and a "train" object, and a "data" object with the fields its kind needs, of their JSON types.

    Raises:
        CheckpointError: a missing or unreadable file, or one that does not have that structure (naming the field).
    """
    path = Path(run_dir) / RUN_FILE
    info = serialization.read_json(path)
    if not isinstance(info, dict) or not {"model", "data", "train"} <= set(info):
        raise CheckpointError(f"{path} is not a chainrule run description")
    for key in ("model", "data", "train"):
        if not isinstance(info[key], dict):
            raise CheckpointError(f"{path}: {key!r} must be an object, not {type(info[key]).__name__}")
    check_data_spec(info["data"], path)
    return info


def check_data_spec(spec: dict[str, Any], path: Path) -> None:
    """Refuse a run.json "data" object that lacks a field its kind needs or holds one of the wrong JSON type."""
    kinds = {"name": str, "levels": int}
    try:
        kind = spec_kind_name(spec)
    except (ChainruleError, TypeError, ValueError):
        raise CheckpointError(f"{path}: data.kind must be a data kind object (name, levels, ...)") from None
    if kind == "audio":
        kinds.update(length=int, encoding=str, rate=int)
    elif kind == "text":
        kinds.update(vocab=str, length=int)
    for key, wanted in kinds.items():
        value = spec.get(key)
        if not isinstance(value, wanted) or isinstance(value, bool):
            raise CheckpointError(f"{path}: data.{key} must be {wanted.__name__}, not {value!r}")
    if spec.get("binarize") not in (None, "threshold", "dynamic", "soft"):
        raise CheckpointError(f"{path}: data.binarize={spec['binarize']!r}; threshold, dynamic, soft or null")
    if not isinstance(spec.get("condition", ""), str):
        raise CheckpointError(f"{path}: data.condition must be a string")
    if not isinstance(spec.get("frames_of_videos", False), bool):
        raise CheckpointError(f"{path}: data.frames_of_videos must be true or false")
    video = spec.get("video", {})
    if not isinstance(video, dict) or not set(video) <= {"frames", "size", "digits"}:
        raise CheckpointError(f"{path}: data.video must be an object of frames, size and digits")
    if any(not isinstance(v, int) or isinstance(v, bool) for v in video.values()):
        raise CheckpointError(f"{path}: data.video's frames, size and digits must be integers")
