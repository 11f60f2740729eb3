"""Generic samplers written against the model contract (`next_log_probs`, `order`); no model is imported."""

from chainrule.sampling.cached import generate, sample_cached, top_k_filter
from chainrule.sampling.completion import (
    DEFAULT_PARTICLES,
    Completion,
    complete,
    default_particles,
    effective_sample_size,
    needs_particles,
)
from chainrule.sampling.conditionals import walk_conditionals
from chainrule.sampling.naive import generate_naive, sample_naive
from chainrule.sampling.regions import REGIONS, hide

__all__ = [
    "sample_naive",
    "generate_naive",
    "sample_cached",
    "generate",
    "top_k_filter",
    "hide",
    "REGIONS",
    "walk_conditionals",
    "complete",
    "Completion",
    "effective_sample_size",
    "needs_particles",
    "default_particles",
    "DEFAULT_PARTICLES",
]
