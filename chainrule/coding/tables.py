"""Model conditionals → integer frequency tables, the same on the encoding and the decoding side.

A table has K integer frequencies summing to 2^PRECISION, each at least 1 (every symbol stays codable, so a symbol
the model thinks impossible costs at most PRECISION bits instead of breaking the coder). The mapping is a fixed
sequence of float64 numpy operations on the model's float32 log-probabilities: the same log-probabilities always
give the same table. What has to match for that is the log-probabilities themselves (see `coding.container`).
"""

from __future__ import annotations

import numpy as np
from torch import Tensor

from chainrule.errors import InputError

PRECISION = 24  # bits; constriction's categorical models work at this precision


def frequency_tables(log_probs: Tensor, precision: int = PRECISION) -> np.ndarray:
    """int64 (B, K) tables for log-probabilities (B, K): floor(p · (2^P − K)) + 1 per symbol, the remainder added to
    the most likely symbol (the first on ties).

    Raises:
        InputError: for non-finite or all -inf log-probabilities, or more than 2^(P-1) symbols.
    """
    lp = log_probs.detach().float().cpu().numpy().astype(np.float64)
    batch, k = lp.shape
    if k > 1 << (precision - 1):
        raise InputError(f"{k} symbols do not fit {precision}-bit frequency tables")
    top = lp.max(axis=1, keepdims=True)
    if not np.all(np.isfinite(top)) or np.isnan(lp).any():
        raise InputError("the model produced NaN or all -inf log-probabilities; cannot code with them")
    p = np.exp(lp - top)
    p /= p.sum(axis=1, keepdims=True)
    total = 1 << precision
    freq = np.floor(p * (total - k)).astype(np.int64) + 1
    freq[np.arange(batch), p.argmax(axis=1)] += total - freq.sum(axis=1)
    return freq


def coder_probabilities(freq: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """The tables as the float64 probabilities the coder takes: freq / 2^P, exact in float64."""
    return freq.astype(np.float64) / float(1 << precision)


def table_bits(freq: np.ndarray, symbols: np.ndarray, precision: int = PRECISION) -> float:
    """Ideal code length in bits of `symbols` (B,) under the tables (B, K): Σ −log2(freq/2^P)."""
    chosen = freq[np.arange(len(symbols)), symbols].astype(np.float64)
    return float(np.sum(precision - np.log2(chosen)))
