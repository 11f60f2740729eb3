"""Likelihood heads: network parameters → per-dimension log-probabilities over K levels, and sampling.

A head knows how the parameters a network emits map to a distribution over each discrete dimension. It has no
weights of its own. Models pick a head; sampler, coder and trainer use only the `LikelihoodHead` interface.
"""

from chainrule.distributions.base import LikelihoodHead
from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical
from chainrule.distributions.discretized_logistic import DiscretizedLogisticMixture


def discrete_head(levels: int) -> tuple[LikelihoodHead, int]:
    """The per-dimension head for K levels and its parameters per dimension P: Bernoulli (P = 1) for binary
    data, a K-way softmax (P = K) otherwise."""
    return (Bernoulli(), 1) if levels == 2 else (Categorical(levels), levels)


__all__ = ["LikelihoodHead", "Bernoulli", "Categorical", "DiscretizedLogisticMixture", "discrete_head"]
