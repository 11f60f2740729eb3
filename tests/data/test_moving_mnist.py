"""Bouncing digits (Moving MNIST): deterministic per (seed, index), constant speed with reflections inside the
canvas, digits combined by maximum, train and test digits disjoint."""

import numpy as np
import pytest

from chainrule.data import moving_mnist as mm


def dot_digit() -> np.ndarray:
    """A 'digit' with one lit pixel at its top-left corner, so the frame shows the digit's position."""
    d = np.zeros((1, 28, 28), dtype=np.uint8)
    d[0, 0, 0] = 255
    return d


def test_a_sequence_is_a_pure_function_of_seed_and_index():
    images = np.random.default_rng(0).integers(0, 256, (10, 28, 28)).astype(np.uint8)
    a, b = mm.sequence(images, 3, 7), mm.sequence(images, 3, 7)
    assert a.shape == (20, 1, 64, 64) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, mm.sequence(images, 3, 8)) and not np.array_equal(a, mm.sequence(images, 4, 7))
    assert mm.sequences(images, 3, 6, 2).shape == (2, 20, 1, 64, 64)
    assert np.array_equal(mm.sequences(images, 3, 6, 2)[1], a)


@pytest.mark.parametrize("index", range(5))
def test_digits_move_at_a_constant_speed_and_bounce_inside_the_canvas(index):
    video = mm.sequence(dot_digit(), 0, index, frames=40, size=64, digits=1)
    where = np.array([np.argwhere(frame[0])[0] for frame in video])  # (frames, 2) top-left of the digit
    free = 64 - 28
    assert where.min() >= 0 and where.max() <= free
    steps = np.abs(np.diff(where, axis=0)).astype(float)
    speed = np.hypot(steps[:, 0], steps[:, 1])
    expected = mm.STEP * free  # 3.6 pixels per frame
    away_from_walls = (where[1:] > 4).all(1) & (where[1:] < free - 4).all(1) & (where[:-1] > 4).all(1)
    away_from_walls &= (where[:-1] < free - 4).all(1)
    assert away_from_walls.sum() >= 5  # enough free flight to measure
    assert np.all(np.abs(speed[away_from_walls] - expected) <= 1.5)  # rounding to whole pixels


def test_two_digits_are_combined_by_the_per_pixel_maximum():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (2, 28, 28)).astype(np.uint8)
    both = mm.sequence(images, 5, 0, frames=3, size=40, digits=2)
    chosen_rng = np.random.default_rng([5, 0])
    picks = chosen_rng.integers(0, 2, size=2)
    path = mm.trajectories(chosen_rng, 3, 40 - 28, 2)
    for t in range(3):
        expected = np.zeros((40, 40), dtype=np.uint8)
        for d in range(2):
            y, x = path[d, t]
            expected[y : y + 28, x : x + 28] = np.maximum(expected[y : y + 28, x : x + 28], images[picks[d]])
        assert np.array_equal(both[t, 0], expected)


def test_train_and_test_digits_are_disjoint_and_balanced():
    train, test = mm.digit_split(5000)
    assert len(train) == 4000 and len(test) == 1000 and not set(train) & set(test)
    labels = np.arange(5000) // 500  # mnist-5k is sorted by label, 500 each
    assert np.bincount(labels[train]).tolist() == [400] * 10 and np.bincount(labels[test]).tolist() == [100] * 10


def test_impossible_sizes_are_refused():
    with pytest.raises(ValueError):
        mm.sequence(dot_digit(), 0, 0, size=20)
    with pytest.raises(ValueError):
        mm.sequence(dot_digit(), 0, 0, frames=0)
