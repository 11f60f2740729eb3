"""What a data source hands over before splitting: raw arrays and their level count."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Source:
    """Raw data of one source.

    Attributes:
        train: (images uint8 (N, *shape), labels (N,) or None).
        test: the official test split, or None when the source has none (one is then carved out).
        val: a validation split of its own, or None (it is then carved out of train).
        source_levels: number of levels of the raw values.
        num_classes: number of label classes (0 without labels).
    """

    train: tuple[np.ndarray, np.ndarray | None]
    test: tuple[np.ndarray, np.ndarray | None] | None
    source_levels: int
    num_classes: int = 0
    val: tuple[np.ndarray, np.ndarray | None] | None = None
