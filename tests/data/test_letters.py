import numpy as np
import pytest

from chainrule.data import letters, load_splits
from chainrule.errors import DatasetNotFoundError

FONTS = letters.font_files()
pytestmark = pytest.mark.skipif(len(FONTS) < 3, reason=f"letters needs fonts: {letters.INSTALL}")


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(image)
    return rows.min(), rows.max(), cols.min(), cols.max()


@pytest.mark.parametrize("letter", ["A", "J"])
def test_a_glyph_is_white_on_black_28x28_and_never_cut_off(letter):
    font = FONTS[0]
    tallest = letters.HEIGHTS[1]
    centred = letters.render(font, letter, tallest, letters.MAX_STROKE, (0.5, 0.5))
    assert centred.shape == (28, 28) and centred.dtype == np.uint8
    assert centred.max() == 255 and np.median(centred) == 0  # white ink on a black background
    # pushed into each corner, the whole glyph stays in the frame: as much ink as centred (up to the 4x reduction)
    for where in ((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)):
        moved = letters.render(font, letter, tallest, letters.MAX_STROKE, where)
        assert abs(int(moved.sum()) - int(centred.sum())) < 0.03 * centred.sum(), where
    top, bottom, left, right = ink_box(letters.render(font, letter, tallest, 0, (0.0, 0.0)))
    assert top <= 1 and left <= 1  # placed at the corner it touches it
    assert bottom - top + 1 >= 0.8 * tallest * 28  # the glyph's height is the one asked for


def test_fonts_without_the_letters_are_left_out(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_FONTS", str(tmp_path))
    (tmp_path / "broken.ttf").write_bytes(b"not a font")
    assert letters.font_files() == []
    with pytest.raises(DatasetNotFoundError, match="fonts-dejavu-core"):
        letters.load_letters()


def test_the_splits_are_by_font_with_every_letter_in_each():
    splits = load_splits("letters")
    per_font = len(letters.LETTERS) * letters.VARIANTS
    counts = {name: sum(letters.split_of(i) == name for i in range(len(FONTS))) for name in ("train", "val", "test")}
    for name, dataset in splits.items():
        assert len(dataset) == counts[name] * per_font
        assert dataset.x.shape[1:] == (1, 28, 28) and dataset.levels == 256
        labels = np.asarray(dataset.labels)
        assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, counts[name] * letters.VARIANTS))
    # no example in two splits (a font's examples are drawn from its own generator, so images differ)
    seen = {name: {bytes(x.numpy().astype(np.uint8)) for x in splits[name].x} for name in splits}
    assert not seen["train"] & seen["val"] and not seen["train"] & seen["test"] and not seen["val"] & seen["test"]
    # the same fonts always give the same set
    again = letters.font_examples(FONTS[1])[0]
    assert np.array_equal(again, letters.font_examples(FONTS[1])[0])
