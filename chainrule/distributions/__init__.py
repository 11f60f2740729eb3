"""Likelihood heads: network parameters → per-dimension log-probabilities over K levels, and sampling.

A head knows how the parameters a network emits map to a distribution over each discrete dimension. It has no
weights of its own. Models pick a head; sampler, coder and trainer use only the `LikelihoodHead` interface.
"""

from chainrule.distributions.base import LikelihoodHead
from chainrule.distributions.bernoulli import Bernoulli
from chainrule.distributions.categorical import Categorical
from chainrule.distributions.discretized_logistic import DiscretizedLogisticMixture

__all__ = ["LikelihoodHead", "Bernoulli", "Categorical", "DiscretizedLogisticMixture"]
