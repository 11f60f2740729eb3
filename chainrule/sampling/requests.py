"""The checks every sampling entry point applies to what it is asked for (one place, so that every command and
every sampler refuses the same things with the same words): a count of at least one whose output fits in memory, a
finite positive temperature, known values for exactly the examples asked for."""

from __future__ import annotations

import math

from torch import Tensor

from chainrule.errors import InputError

MAX_SAMPLE_VALUES = 1 << 28  # values one call may return (2 GiB as int64): more is refused up front
SAMPLE_BATCH = 1024  # examples drawn at once by `model.sample`; more are drawn batch by batch


def check_temperature(temperature: float) -> None:
    """Refuse a temperature that is not a finite positive number (NaN passes `<= 0`)."""
    if not isinstance(temperature, int | float) or not math.isfinite(temperature) or temperature <= 0:
        raise InputError(f"temperature={temperature} must be a finite positive number")


def check_count(n: int, dims: int, what: str = "n") -> None:
    """Refuse a count below one, or one whose samples (n x dims values) could not be held."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise InputError(f"{what}={n} must be an integer ≥ 1")
    if n * dims > MAX_SAMPLE_VALUES:
        raise InputError(
            f"{what}={n:,} samples of {dims:,} values each are more than one call can hold "
            f"({MAX_SAMPLE_VALUES:,} values); ask for at most {MAX_SAMPLE_VALUES // dims:,}"
        )


def check_known_count(n: int, known: Tensor | None) -> None:
    """With known values, `n` must be the number of examples they hold (one completion each)."""
    if known is None:
        return
    held = known.shape[0] if isinstance(known, Tensor) and known.dim() else 0
    if held != n:
        raise InputError(f"known holds {held} example(s) but n={n}: give one known example per sample")
