"""Audio datasets: recorded speech (Debian `asterisk-core-sounds-en-wav`) and the user's WAV folders.

Files are read with soundfile (libsndfile), mixed to mono, resampled with soxr when their rate differs from the
target rate, and encoded (`data.mulaw`). A split is the concatenation of its files in name order, one stream.

`speech`: the 568 WAV prompts (8 kHz, 16-bit, one speaker) under /usr/share/asterisk/sounds/en_US_f_Allison
(or $CHAINRULE_SPEECH), split by file: sorted by relative path, every 10th file (index ≡ 9 mod 10) is test,
index ≡ 4 mod 10 validation, the rest train. A user folder of WAV files is split the same way (at least 3 files;
under 10, the last file is test and the one before it validation).

Training draws random crops of a fixed length from the train stream (`Dataset.random_crops`); evaluation scores
each split as one stream.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from chainrule.data.dataset import Dataset
from chainrule.data.kind import DataKind
from chainrule.data.mulaw import ENCODINGS, encode
from chainrule.errors import ConfigError, DataFormatError, DatasetNotFoundError, InputError

SPEECH_DIR = "/usr/share/asterisk/sounds/en_US_f_Allison"
INSTALL = "apt-get install -y asterisk-core-sounds-en-wav"
DEFAULT_RATE = 8000
DEFAULT_LENGTH = 4096


def read_wav(path: str | Path, rate: int | None = None) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1) and their rate; resampled to `rate` when given and different.

    Raises:
        InputError: for a missing, empty, corrupt or non-audio file, or an unsupported sample format.
    """
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty")
    try:
        data, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, TypeError) as err:
        raise InputError(f"{path} is not a readable audio file ({err})") from None
    if data.shape[0] == 0:
        raise InputError(f"{path} holds no samples")
    mono = data.mean(axis=1)
    if rate and file_rate != rate:
        import soxr

        mono = soxr.resample(mono, file_rate, rate).astype(np.float32)
        file_rate = rate
    return mono, file_rate


def write_wav(path: str | Path, samples: torch.Tensor, rate: int) -> None:
    """Write float samples in [-1, 1] as 16-bit PCM mono."""
    import soundfile

    soundfile.write(str(path), samples.clamp(-1, 1).cpu().numpy(), rate, subtype="PCM_16")


def wav_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())


def split_files(files: list[Path]) -> dict[str, list[Path]]:
    """Every 10th file (index 9 mod 10) test, index 4 mod 10 validation; under 10 files: the last one test, the
    one before it validation."""
    if len(files) < 10:
        return {"train": files[:-2], "val": files[-2:-1], "test": files[-1:]}
    return {
        "train": [f for i, f in enumerate(files) if i % 10 not in (4, 9)],
        "val": [f for i, f in enumerate(files) if i % 10 == 4],
        "test": [f for i, f in enumerate(files) if i % 10 == 9],
    }


def speech_folder() -> Path:
    folder = Path(os.environ.get("CHAINRULE_SPEECH", SPEECH_DIR))
    if not folder.is_dir() or not wav_files(folder):
        raise DatasetNotFoundError(f"speech is not installed ({folder} has no WAV files); run: {INSTALL}")
    return folder


def is_audio_path(path: Path) -> bool:
    return path.suffix.lower() == ".wav" or (path.is_dir() and any(path.glob("*.wav")))


def audio_datasets(
    name: str,
    folder: Path,
    encoding: str | None = None,
    rate: int | None = None,
    length: int | None = None,
) -> dict[str, Dataset]:
    """Stream datasets of a WAV folder (split by file) at `rate` (default 8000 Hz), `encoding` (default mulaw)."""
    encoding, rate, length = encoding or "mulaw", rate or DEFAULT_RATE, length or DEFAULT_LENGTH
    if encoding not in ENCODINGS:
        raise ConfigError(f"encoding={encoding!r}; choose one of {', '.join(ENCODINGS)}")
    files = wav_files(folder) if folder.is_dir() else [folder]
    if len(files) < 3:
        raise DataFormatError(f"{folder} holds {len(files)} WAV files; a train/val/test split by file needs ≥ 3")
    out = {}
    for split, chosen in split_files(files).items():
        tokens = encode(torch.from_numpy(np.concatenate([read_wav(f, rate)[0] for f in chosen])), encoding)
        rows = len(tokens) // length
        if rows < 1:
            raise DataFormatError(f"the {split} split of {name} has {len(tokens)} samples, fewer than length={length}")
        levels = ENCODINGS[encoding]
        out[split] = Dataset(
            name=name,
            split=split,
            raw=tokens[: rows * length].reshape(rows, length).to(torch.uint8 if levels <= 256 else torch.int32),
            source_levels=levels,
            levels=levels,
            kind=DataKind.audio(levels, encoding, rate),
            tokens=tokens,
            source_files=len(chosen),
            random_crops=split == "train",
        )
    return out
