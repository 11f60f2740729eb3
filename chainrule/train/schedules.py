"""Learning-rate schedule as a pure function of the step and the fraction of the budget used."""

from __future__ import annotations

import math


def warmup_cosine(step: int, progress: float, warmup_steps: int, final_fraction: float) -> float:
    """Multiplier of the base learning rate.

    Linear warm-up over `warmup_steps`, then a cosine from 1 down to `final_fraction` as `progress` (the used
    share of the budget, 0..1) goes to 1.
    """
    if warmup_steps and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(max(progress, 0.0), 1.0)
    return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))
