"""The independent-pixel baseline: one categorical per dimension fitted by counting (add-one smoothing); for text,
the order-0 token frequencies."""

from __future__ import annotations

import math

import torch

from chainrule.data import Dataset


def independent_nll(train: Dataset, test: Dataset) -> dict[str, float]:
    """Test NLL of p(x) = Π_i p_i(x_i) with p_i the smoothed training frequencies of dimension i.

    Returns:
        {"nats": nats per example, "bpd": bits per dimension}.
    """
    if train.is_stream:  # text: one categorical for every position (order-0 token frequencies)
        counts = torch.bincount(train.tokens, minlength=train.levels).double() + 1.0
        log_p = (counts / counts.sum()).log()
        per_token = -log_p[test.tokens].mean().item()
        return {"nats": per_token * train.shape[0], "bpd": per_token / math.log(2)}
    x = train.x.flatten(1)
    counts = torch.stack([(x == k).sum(0) for k in range(train.levels)], dim=-1).double() + 1.0
    log_p = (counts / counts.sum(-1, keepdim=True)).log()  # (D, K)
    t = test.x.flatten(1)
    nats = -log_p.gather(1, t.T).sum(0).mean().item()
    return {"nats": nats, "bpd": nats / (t.shape[1] * math.log(2))}
