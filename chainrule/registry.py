"""A name → class registry with per-entry metadata (config class, tiny test config, presets)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chainrule.errors import UnknownNameError


@dataclass(frozen=True)
class Entry:
    """One registered item.

    Attributes:
        name: registry name, e.g. "made".
        target: the registered class or function.
        config: its config dataclass, if any.
        tiny: hyper-parameters of a tiny instance, used by the conformance tests.
        presets: named hyper-parameter sets, e.g. {"cpu": {...}, "paper": {...}}; a preset's "train" entry holds
            training settings and its "data" entry data options (the text context "length" it was tuned for).
        kind: the data shapes it takes: "any", "image" (C, H, W) or "sequence" (T,).
        colour_fields: widths that must be multiples of the number of colour channels C (masked channel groups);
            presets round them up to one for colour data.
    """

    name: str
    target: Any
    config: type | None = None
    tiny: dict[str, Any] = field(default_factory=dict)
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    kind: str = "any"
    colour_fields: tuple[str, ...] = ()


class Registry:
    """Maps names to entries; `register` is used as a class decorator."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.entries: dict[str, Entry] = {}

    def register(self, name: str, **meta: Any) -> Callable[[Any], Any]:
        def decorate(target: Any) -> Any:
            if name in self.entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self.entries[name] = Entry(name=name, target=target, **meta)
            target.registry_name = name
            return target

        return decorate

    def get(self, name: str) -> Entry:
        if name not in self.entries:
            raise UnknownNameError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names())}")
        return self.entries[name]

    def names(self) -> list[str]:
        return list(self.entries)
