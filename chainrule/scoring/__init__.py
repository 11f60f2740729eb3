"""Judge new inputs with an exact likelihood: anomaly and out-of-distribution scores (`score`, higher = more
unusual) and how well they separate two sets (`separation`: AUROC, AUPRC, FPR at 95 % TPR)."""

from chainrule.scoring.metrics import auprc, auroc, fpr_at_tpr, separation
from chainrule.scoring.scores import (
    METHODS,
    bits_per_dim,
    complexity_bits,
    dimension_bits,
    hidden_bits,
    per_input,
    score,
    scores_and_bits,
    validation_bits,
)

__all__ = [
    "METHODS",
    "auprc",
    "auroc",
    "bits_per_dim",
    "complexity_bits",
    "dimension_bits",
    "fpr_at_tpr",
    "hidden_bits",
    "per_input",
    "score",
    "scores_and_bits",
    "separation",
    "validation_bits",
]
