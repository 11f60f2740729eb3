"""How well a score separates out-of-distribution inputs (the positive class) from in-distribution ones: AUROC,
AUPRC (average precision) and the false-positive rate at 95 % true-positive rate. Higher scores must mean more
unusual, as every `scoring` method's do."""

from __future__ import annotations

import numpy as np


def _labels_scores(inside, outside) -> tuple[np.ndarray, np.ndarray]:
    inside, outside = np.asarray(inside, dtype=np.float64), np.asarray(outside, dtype=np.float64)
    if not len(inside) or not len(outside):
        raise ValueError("both the in-distribution and the out-of-distribution scores need at least one value")
    labels = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
    return labels, np.concatenate([inside, outside])


def auroc(inside, outside) -> float:
    """P(score of an outside example > score of an inside one), ties counted half (Mann-Whitney U)."""
    labels, scores = _labels_scores(inside, outside)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    start = 0
    while start < len(scores):  # average ranks over ties
        end = start
        while end + 1 < len(scores) and sorted_scores[end + 1] == sorted_scores[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    n_out, n_in = int(labels.sum()), int(len(labels) - labels.sum())
    return float((ranks[labels == 1].sum() - n_out * (n_out + 1) / 2) / (n_out * n_in))


def auprc(inside, outside) -> float:
    """Average precision with outside examples as positives: the mean, over positives, of the precision among the
    examples scoring at least as high (ties resolved pessimistically)."""
    labels, scores = _labels_scores(inside, outside)
    precision = []
    for s in scores[labels == 1]:
        above = scores >= s
        precision.append(labels[above].sum() / above.sum())
    return float(np.mean(precision))


def fpr_at_tpr(inside, outside, tpr: float = 0.95) -> float:
    """The fraction of inside examples flagged at the lowest threshold that flags `tpr` of the outside ones."""
    inside, outside = np.asarray(inside, dtype=np.float64), np.asarray(outside, dtype=np.float64)
    threshold = np.sort(outside)[::-1][max(0, int(np.ceil(tpr * len(outside))) - 1)]
    return float((inside >= threshold).mean())


def separation(inside, outside) -> dict[str, float]:
    """AUROC, AUPRC and FPR at 95 % TPR."""
    return {"auroc": auroc(inside, outside), "auprc": auprc(inside, outside), "fpr95": fpr_at_tpr(inside, outside)}
