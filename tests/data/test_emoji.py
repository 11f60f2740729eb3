import numpy as np
import pytest
from PIL import ImageFont

from chainrule.data import emoji, load_splits

pytestmark = pytest.mark.skipif(
    not (emoji.font_path().is_file() and emoji.table_path().is_file()), reason=f"emoji needs: {emoji.INSTALL}"
)


@pytest.fixture(scope="module")
def font():
    return ImageFont.truetype(str(emoji.font_path()), emoji.STRIKE)


@pytest.mark.parametrize("glyph", ["😀", "🐶", "🇫🇷", "👍🏽"])
@pytest.mark.parametrize("size", [64, 32])
def test_a_glyph_is_rgb_on_white_whole_and_centred(font, glyph, size):
    image = emoji.render(font, glyph, size)
    assert image is not None and image.shape == (3, size, size) and image.dtype == np.uint8
    corners = image[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert (corners >= 250).all()  # white where the glyph is transparent (alpha composited, not black)
    ink = (image < 240).any(0)
    rows, cols = np.nonzero(ink)
    assert len(rows) > 0.2 * size * size  # a picture, not a speck
    # centred on the square: the ink's margins balance along the glyph's longer side, and none is cut
    assert (
        abs(int(cols.min()) - (size - 1 - int(cols.max()))) <= 0.12 * size
        or abs(int(rows.min()) - (size - 1 - int(rows.max()))) <= 0.12 * size
    )


def test_a_sequence_the_font_draws_as_several_glyphs_is_left_out(font):
    assert emoji.render(font, "😀😀", 64) is None  # two glyphs side by side
    assert emoji.render(font, "\u200b", 64) is None  # nothing drawn


def test_the_table_gives_nine_groups_and_skips_components(tmp_path):
    groups, entries = emoji.read_table(emoji.table_path())
    assert groups[0] == "Smileys & Emotion" and "Component" not in groups and len(groups) == 9
    assert all(0 <= g < 9 for _, g in entries) and len(entries) > 3000
    bad = tmp_path / "empty.txt"
    bad.write_text("# group: Smileys & Emotion\n")
    with pytest.raises(Exception, match="no fully-qualified"):
        emoji.read_table(bad)


def test_the_split_is_by_glyph_skin_tones_together_and_labels_cover_every_example():
    assert emoji.split_of("👍") == emoji.split_of("👍🏽") == emoji.split_of("👍🏿")
    splits = load_splits("emoji64")
    small = load_splits("emoji32")
    seen = {}
    for name, dataset in splits.items():
        assert dataset.x.shape[1:] == (3, 64, 64) and dataset.levels == 256 and dataset.num_classes == 9
        labels = np.asarray(dataset.labels)
        assert len(labels) == len(dataset) and labels.min() >= 0 and labels.max() < 9
        assert len(small[name]) == len(dataset)  # the same emoji at 32x32
        seen[name] = {bytes(x.numpy().astype(np.uint8)) for x in dataset.x}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]
    assert len(np.unique(np.asarray(splits["train"].labels))) == 9  # every class is learned
    assert len(splits["test"]) > 200 and len(splits["val"]) > 100
