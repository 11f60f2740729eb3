"""The model zoo: small models trained by the project's own commands and shipped inside the package
(`chainrule/zoo/<name>/`: the run's `config.json`, `model.safetensors`, `run.json`, `results.json`), so that
`chainrule sample zoo:NAME` works offline right after setup. `zoo.json` records for each one the command that
trained it, its data, its training time and its test NLL; `chainrule zoo` lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chainrule import serialization
from chainrule.errors import UnknownNameError

ZOO_DIR = Path(__file__).parent
PREFIX = "zoo:"


def entries(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """name → {"family", "data", "command", "train_seconds", "test", ...} of every zoo model."""
    manifest = (directory or ZOO_DIR) / "zoo.json"
    return serialization.read_json(manifest) if manifest.is_file() else {}


def resolve(spec: str | Path, directory: Path | None = None) -> Path:
    """The directory of `zoo:NAME`, or `spec` itself when it is not a zoo name.

    Raises:
        UnknownNameError: for a zoo name that is not in the zoo.
    """
    text = str(spec)
    if not text.startswith(PREFIX):
        return Path(spec)
    name, known = text[len(PREFIX) :], entries(directory)
    if name not in known:
        raise UnknownNameError(f"{text}: no such zoo model; available: {', '.join(known) or 'none'} (chainrule zoo)")
    return (directory or ZOO_DIR) / name
