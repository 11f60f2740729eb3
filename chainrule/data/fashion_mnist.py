"""Fashion-MNIST (Xiao et al. 2017): 70,000 28x28 grey clothing images, 10 classes, from the Debian package
`dataset-fashion-mnist` (gzipped IDX files). Any directory with the four standard IDX files loads the same way."""

from __future__ import annotations

import os
from pathlib import Path

from chainrule.data.idx import is_idx_dir, load_idx_dir
from chainrule.data.source import Source
from chainrule.errors import DatasetNotFoundError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
INSTALL = "sudo apt-get install -y dataset-fashion-mnist"


def directory() -> Path:
    """Where the files are: $CHAINRULE_FASHION_MNIST, else the Debian package's folder."""
    return Path(os.environ.get("CHAINRULE_FASHION_MNIST", DEBIAN_DIR))


def load_idx_source(path: Path) -> Source:
    return Source(train=load_idx_dir(path, "train"), test=load_idx_dir(path, "test"), source_levels=256, num_classes=10)


def load_fashion_mnist() -> Source:
    path = directory()
    if not is_idx_dir(path):
        raise DatasetNotFoundError(
            f"fashion-mnist is not installed (no IDX files in {path}): run `{INSTALL}` "
            "or set CHAINRULE_FASHION_MNIST to a folder with the four IDX files"
        )
    return load_idx_source(path)
