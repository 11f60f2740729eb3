"""Bouncing digits: the Moving MNIST protocol of Srivastava, Mansimov and Salakhutdinov 2015 (arXiv 1502.04681),
the video benchmark of Video Pixel Networks (Kalchbrenner et al. 2016, arXiv 1610.00527).

Each sequence places `digits` 28x28 MNIST digits on a `size` x `size` canvas: a digit starts at a uniformly random
position of the free range (size − 28 pixels each way) with a uniformly random direction and moves a constant 0.1
of the free range per frame (the original generator's step), reflecting off the walls; the digits are combined by
the per-pixel maximum, at 256 grey levels. Values: uint8 (N, frames, 1, size, size).

The digits are the bundled MNIST-5k (`data.mnist5k`; 500 per class, sorted by label), split by index so that the
test sequences use digits that training never sees: rows with index % 10 < 8 are training digits (4,000, 400 per
class), the others test digits (1,000). A sequence is a pure function of (seed, index): the same sequence after a
resume and in every process.
"""

from __future__ import annotations

import math

import numpy as np

DIGIT = 28  # MNIST digit side
STEP = 0.1  # movement per frame, as a fraction of the free range (the original generator's step length)
TRAIN_DIGITS = 8  # of every 10 consecutive MNIST-5k rows, the first 8 are training digits, the last 2 test digits


def digit_split(labels_sorted_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, test) of the digits: index % 10 < 8 trains, the rest test."""
    rows = np.arange(labels_sorted_rows)
    return rows[rows % 10 < TRAIN_DIGITS], rows[rows % 10 >= TRAIN_DIGITS]


def trajectories(rng: np.random.Generator, frames: int, free: int, digits: int) -> np.ndarray:
    """Top-left positions int (digits, frames, 2) of bouncing digits in a free range of `free` pixels."""
    position = rng.uniform(0.0, 1.0, size=(digits, 2))
    angle = rng.uniform(0.0, 2 * math.pi, size=digits)
    velocity = STEP * np.stack([np.sin(angle), np.cos(angle)], axis=1)
    out = np.empty((digits, frames, 2))
    for t in range(frames):
        out[:, t] = position
        position = position + velocity
        for axis in range(2):  # reflect off the walls: the position stays in [0, 1]
            low, high = position[:, axis] < 0, position[:, axis] > 1
            position[low, axis] = -position[low, axis]
            position[high, axis] = 2 - position[high, axis]
            velocity[low | high, axis] = -velocity[low | high, axis]
    return np.rint(out * free).astype(np.int64)


def sequence(
    images: np.ndarray, seed: int, index: int, frames: int = 20, size: int = 64, digits: int = 2
) -> np.ndarray:
    """Sequence `index` of the stream seeded by `seed`: uint8 (frames, 1, size, size) from `images` uint8
    (M, 28, 28).

    Raises:
        ValueError: a canvas smaller than a digit, or no frames or digits."""
    if size < DIGIT or frames < 1 or digits < 1:
        raise ValueError(f"size={size} must be ≥ {DIGIT}, frames={frames} and digits={digits} ≥ 1")
    rng = np.random.default_rng([seed, index])
    chosen = images[rng.integers(0, len(images), size=digits)]
    path = trajectories(rng, frames, size - DIGIT, digits)
    video = np.zeros((frames, size, size), dtype=np.uint8)
    for d in range(digits):
        for t in range(frames):
            y, x = path[d, t]
            window = video[t, y : y + DIGIT, x : x + DIGIT]
            np.maximum(window, chosen[d], out=window)
    return video[:, None]


def sequences(
    images: np.ndarray, seed: int, start: int, count: int, frames: int = 20, size: int = 64, digits: int = 2
) -> np.ndarray:
    """Sequences start .. start + count − 1 of the stream: uint8 (count, frames, 1, size, size)."""
    return np.stack([sequence(images, seed, start + i, frames, size, digits) for i in range(count)])
