"""Frozen dataclass configs: conversion from JSON dicts and from `key=value` command-line overrides.

Configs hold JSON types only (int, float, bool, str, tuples of those, Literal choices) so that they round-trip
through `config.json`. Validation lives in each config's `__post_init__`.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Literal, TypeVar, get_args, get_origin

from chainrule.errors import ConfigError

T = TypeVar("T")


def field_names(cls: type) -> list[str]:
    """Names of the dataclass fields of `cls`."""
    return [f.name for f in dataclasses.fields(cls)]


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """Convert a JSON value (or a string from the command line) to the field type `hint`."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return None
        return _coerce(name, options[0], value)
    if origin is Literal:
        allowed = get_args(hint)
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not allowed; choose one of {', '.join(map(str, allowed))}")
        return value
    if origin is tuple:
        if isinstance(value, str):
            text = value.strip().strip("()[]")
            value = [v for v in text.split(",") if v.strip()]
        if isinstance(value, int | float):
            value = [value]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{name}={value!r} must be a list, e.g. {name}=1,2,3")
        inner = get_args(hint)[0] if get_args(hint) else str
        return tuple(_coerce(name, inner, v) for v in value)
    if hint is bool:
        if isinstance(value, str):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{name}={value!r} must be true or false")
    if hint in (int, float):
        try:
            number = hint(value)
        except (TypeError, ValueError, OverflowError):  # int(inf) overflows
            raise ConfigError(f"{name}={value!r} must be {hint.__name__}") from None
        if hint is int and isinstance(value, float) and value != number:
            raise ConfigError(f"{name}={value!r} must be an integer")
        if hint is int and not -INT_LIMIT <= number < INT_LIMIT:  # seeds and sizes are 64-bit integers downstream
            raise ConfigError(f"{name}={value!r} must lie within ±2^63")
        return number
    if hint is str:
        return str(value)
    return value


INT_LIMIT = 1 << 63


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build config `cls` from a dict, converting values to the field types.

    Raises:
        ConfigError: on unknown keys (the message lists the known ones) or values of the wrong type.
    """
    hints = typing.get_type_hints(cls)
    known = field_names(cls)
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(unknown)} for {cls.__name__}; known: {', '.join(known)}")
    values = {k: _coerce(k, hints[k], v) for k, v in data.items()}
    try:
        return cls(**values)
    except TypeError as err:  # a required field is missing
        raise ConfigError(f"{cls.__name__}: {err}") from None


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse `key=value` strings; values stay strings or JSON scalars until `from_dict` types them."""
    result: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} must look like key=value")
        try:
            result[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            result[key.strip()] = value
    return result


def to_dict(config: Any) -> dict[str, Any]:
    """The JSON dict of a dataclass config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))
