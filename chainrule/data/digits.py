"""scikit-learn's bundled 8x8 digits (UCI optdigits): 1,797 images with 17 levels (0..16), 10 classes."""

from __future__ import annotations

import numpy as np

from chainrule.data.source import Source
from chainrule.errors import DatasetNotFoundError


def load_digits() -> Source:
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise DatasetNotFoundError("digits needs scikit-learn: run `pip install scikit-learn`") from None
    bunch = sklearn_digits()
    images = bunch.data.reshape(-1, 1, 8, 8).astype(np.uint8)
    return Source(train=(images, bunch.target.astype(np.int64)), test=None, source_levels=17, num_classes=10)
