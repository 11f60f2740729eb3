import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

import chainrule as cr
from chainrule.data.idx import parse_idx
from chainrule.data.transforms import dynamic_binarize, requantize, threshold
from chainrule.errors import ConfigError, DataFormatError, DatasetNotFoundError, UnknownNameError


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx_dir(path, n_train=30, n_test=10, size=6):
    rng = np.random.default_rng(0)
    path.mkdir()
    for stem, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (path / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (path / f"{stem}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return path


def test_idx_parsing_round_trip_and_errors():
    a = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(parse_idx(idx_bytes(a)), a)
    with pytest.raises(DataFormatError, match="magic"):
        parse_idx(b"\x01\x02\x08\x03" + bytes(20))
    with pytest.raises(DataFormatError, match="promises"):
        parse_idx(idx_bytes(a)[:-3])
    with pytest.raises(DataFormatError, match="type"):
        parse_idx(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 1) + bytes(4))


def test_idx_folder_loads_with_official_test_split(tmp_path):
    folder = write_idx_dir(tmp_path / "idx")
    splits = cr.data.load_splits(str(folder))
    assert {k: len(v) for k, v in splits.items()} == {"train": 27, "val": 3, "test": 10}
    assert splits["train"].shape == (1, 6, 6) and splits["train"].levels == 256
    assert splits["train"].num_classes == 10


def test_fashion_mnist_missing_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(tmp_path))
    with pytest.raises(DatasetNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        cr.data.load("fashion-mnist")


def test_fashion_mnist_from_a_user_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAINRULE_FASHION_MNIST", str(write_idx_dir(tmp_path / "f", n_train=10010, n_test=4)))
    train = cr.data.load("fashion-mnist", levels=2)
    assert len(train) == 5010 and train.binarize == "threshold"


def test_corrupt_gzip_is_a_data_format_error(tmp_path):
    folder = write_idx_dir(tmp_path / "idx")
    blob = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFormatError):
        cr.data.load(str(folder))


def test_digits_and_splits_are_fixed_and_disjoint():
    a = cr.data.load_splits("digits")
    b = cr.data.load_splits("digits")
    assert a["train"].levels == 17 and a["train"].shape == (1, 8, 8)
    assert sum(len(v) for v in a.values()) == 1797
    for split in ("train", "val", "test"):
        assert torch.equal(a[split].raw, b[split].raw)
    rows = {split: {tuple(r.flatten().tolist()) for r in a[split].raw} for split in a}
    # digits has a few duplicate images; disjointness is by example, so overlaps stay tiny
    assert len(rows["train"] & rows["test"]) < 5


def test_mnist5k_loads_real_digits():
    train = cr.data.load("mnist-5k", levels=2)
    assert train.shape == (1, 28, 28) and train.num_classes == 10
    assert 0.08 < train.x.float().mean().item() < 0.2


def test_level_transforms():
    raw = torch.tensor([0, 127, 128, 255])
    assert threshold(raw, 256).tolist() == [0, 0, 1, 1]
    assert requantize(raw, 256, 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ConfigError):
        requantize(raw, 4, 8)
    probs = dynamic_binarize(torch.full((20000,), 64), 256, torch.Generator().manual_seed(0)).float().mean()
    assert probs.item() == pytest.approx(64 / 255, abs=0.01)


def test_dynamic_binarization_resamples_for_training_and_is_fixed_for_evaluation():
    train = cr.data.load("digits", levels=2, binarize="dynamic")
    index = torch.arange(50)
    a, _ = train.batch(index, torch.Generator().manual_seed(1))
    b, _ = train.batch(index, torch.Generator().manual_seed(2))
    assert not torch.equal(a, b)
    assert torch.equal(train.batch(index)[0], train.batch(index)[0])
    assert "dynamic" in train.description


def test_npy_npz_and_png_folder(tmp_path):
    x = np.random.default_rng(0).integers(0, 2, (40, 5, 5)).astype(np.uint8)
    np.save(tmp_path / "a.npy", x)
    d = cr.data.load(str(tmp_path / "a.npy"))
    assert d.levels == 2 and d.shape == (1, 5, 5)
    np.savez(tmp_path / "b.npz", x=x * 100, y=np.arange(40) % 3)
    d = cr.data.load(str(tmp_path / "b.npz"), levels=4)
    assert d.levels == 4 and d.num_classes == 3
    folder = tmp_path / "png"
    for label in ("cat", "dog"):
        (folder / label).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.full((4, 6, 3), i * 20, dtype=np.uint8)).save(folder / label / f"{i}.png")
    d = cr.data.load_splits(str(folder))
    assert d["train"].shape == (3, 4, 6) and d["train"].num_classes == 2
    (folder / "cat" / "bad.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match="bad.png"):
        cr.data.load(str(folder))


def test_bad_names_and_levels():
    with pytest.raises(UnknownNameError, match="available|built in"):
        cr.data.load("no-such-set")
    with pytest.raises(ConfigError, match="levels"):
        cr.data.load("digits", levels=40)
    with pytest.raises(ConfigError, match="binarize"):
        cr.data.load("digits", levels=4, binarize="dynamic")
    with pytest.raises(ConfigError, match="split"):
        cr.data.load("digits", split="dev")


def test_photos32_cuts_disjoint_patches_and_holds_out_whole_photos(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for name in ("Storm.jpg", "YellowFlower.jpg", "A.jpg", "B.jpg"):
        Image.fromarray(rng.integers(0, 256, (270, 400, 3), dtype=np.uint8)).save(tmp_path / name)
    monkeypatch.setenv("CHAINRULE_PHOTOS", str(tmp_path))
    splits = cr.data.load_splits("photos32")
    per_photo = (270 // 4 // 32) * (400 // 4 // 32)  # 2 x 3 patches
    assert len(splits["test"]) == 2 * per_photo
    assert len(splits["train"]) + len(splits["val"]) == 2 * per_photo
    assert splits["test"].shape == (3, 32, 32) and splits["test"].levels == 256
    monkeypatch.setenv("CHAINRULE_PHOTOS", str(tmp_path / "none"))
    with pytest.raises(DatasetNotFoundError, match="apt-get install -y mate-backgrounds"):
        cr.data.load("photos32")


def test_split_all_keeps_every_example():
    everything = cr.data.load("digits", split="all", levels=2)
    assert len(everything) == 1797 and everything.split == "all"


def test_training_data_from_16_bit_pngs_is_refused_not_clipped(tmp_path):
    from chainrule.data.png_folder import load_png_folder
    from chainrule.errors import InputError

    Image.fromarray(np.array([[0, 40000], [7, 9]], dtype=np.uint16)).save(tmp_path / "a.png")
    with pytest.raises(InputError, match=r"a\.png \(mode I;16\) has values up to 40000"):
        load_png_folder(tmp_path)


def test_photos64_is_split_by_photograph_with_the_kde_photographs():
    from chainrule.data import photos

    try:
        files = photos.photo_files("photos64") + photos.plasma_files()
    except DatasetNotFoundError as err:
        pytest.skip(str(err))
    names = [photos.photo_name(f) for f in files]
    assert len(names) == len(set(names)) == 25 and "Kite" in names and "Storm" in names
    splits = cr.data.load_splits("photos64")
    seen = {n: {bytes(x.numpy().astype("uint8")) for x in d.x[:: max(1, len(d) // 400)]} for n, d in splits.items()}
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["val"] and not seen["val"] & seen["test"]
    assert set(photos.TEST_PHOTOS64).isdisjoint(photos.VALIDATION_PHOTOS64)
    assert len(splits["test"]) > len(splits["val"]) > 0 and len(splits["train"]) > 10 * len(splits["test"])


def test_a_text_stream_shows_whole_characters_only():
    from chainrule.data.vocabulary import BYTES, TextStream, Vocabulary

    stream = TextStream(Vocabulary(BYTES))
    shown = [stream.push(b) for b in "aé€😀".encode()]
    assert "".join(shown) == "aé€😀"
    assert shown[:2] == ["a", ""] and shown[2] == "é"  # é's two bytes: nothing until the second
    assert [stream.push(b) for b in (0xFF, 0xFE, 0xFD, 0xFC)][-1] == "\ufffd" * 4  # bytes that make no character
    chars = TextStream(Vocabulary("ab"))
    assert chars.push(1) == "b"
