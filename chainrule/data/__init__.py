"""Datasets as integer tensors: one file per source, plus the shared `Dataset` and level transforms.

    load(name_or_path, split="train", levels=None, binarize=None) → Dataset
    available() → built-in names;  describe_all() → (name, installed?, what it is, how to install)

Every dataset (and every model: `model.data_kind`) says what its values are: `DataKind` (image, text, audio or
plain values, with that kind's facts). A name that is not built in is read as a path: a `.npy`/`.npz` array, a
folder of PNG images or a folder with the four standard IDX files.
"""

from chainrule.data.condition import Condition
from chainrule.data.dataset import Dataset
from chainrule.data.kind import DataKind
from chainrule.data.sources import SOURCES, available, describe_all, load, load_splits

__all__ = ["Condition", "DataKind", "Dataset", "SOURCES", "available", "describe_all", "load", "load_splits"]
