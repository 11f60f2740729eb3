"""`chainrule compress` / `decompress` on every input kind, and the user mistakes they must report in one line."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch
from PIL import Image

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data.audio import read_wav
from chainrule.data.mulaw import encode


def saved(tmp_path, name: str, shape, levels: int, **hparams):
    torch.manual_seed(0)
    model = cr.models.create(name, shape=shape, levels=levels, **{**cr.models.MODELS.get(name).tiny, **hparams})
    directory = tmp_path / name
    model.save(directory)
    return str(directory)


def round_trip(run_dir: str, source, tmp_path, out_name: str):
    packed, out = tmp_path / "packed.crac", tmp_path / out_name
    assert main(["compress", run_dir, str(source), "-o", str(packed)]) == 0
    assert main(["decompress", run_dir, str(packed), "-o", str(out)]) == 0
    return out


@pytest.fixture
def image_model(tmp_path):
    return saved(tmp_path, "pixelcnn", (1, 4, 4), 256)


def test_npy_images_come_back_with_their_values_shape_and_dtype(image_model, tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (5, 4, 4)).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    y = np.load(round_trip(image_model, tmp_path / "x.npy", tmp_path, "y.npy"))
    assert y.dtype == x.dtype and np.array_equal(y, x)


def test_idx_files_come_back_byte_for_byte(image_model, tmp_path):
    x = np.random.default_rng(1).integers(0, 256, (3, 4, 4)).astype(np.uint8)
    data = bytes([0, 0, 8, 3]) + b"".join(d.to_bytes(4, "big") for d in x.shape) + x.tobytes()
    (tmp_path / "x-idx3-ubyte").write_bytes(data)
    assert round_trip(image_model, tmp_path / "x-idx3-ubyte", tmp_path, "y-idx3-ubyte").read_bytes() == data


def test_a_png_folder_comes_back_with_its_names_and_pixels(image_model, tmp_path):
    rng = np.random.default_rng(2)
    (tmp_path / "pngs" / "sub").mkdir(parents=True)
    names = ["a.png", "sub/b.png", "sub/c.png"]
    for name in names:
        Image.fromarray(rng.integers(0, 256, (4, 4)).astype(np.uint8)).save(tmp_path / "pngs" / name)
    out = round_trip(image_model, tmp_path / "pngs", tmp_path, "back")
    for name in names:
        assert np.array_equal(np.asarray(Image.open(out / name)), np.asarray(Image.open(tmp_path / "pngs" / name)))


def test_any_file_comes_back_byte_for_byte_under_a_byte_text_model(tmp_path):
    run = saved(tmp_path, "char-rnn", (8,), 256)
    data = "To be, or not to be — that is the question.\r\n".encode() + bytes(range(256))  # not UTF-8 at the end
    (tmp_path / "in.bin").write_bytes(data)
    assert round_trip(run, tmp_path / "in.bin", tmp_path, "out.bin").read_bytes() == data
    (tmp_path / "empty.txt").write_bytes(b"")
    assert round_trip(run, tmp_path / "empty.txt", tmp_path, "empty.out").read_bytes() == b""


def test_text_outside_a_character_vocabulary_is_refused(tmp_path, capsys):
    run = saved(tmp_path, "transformer", (8,), 3, vocab="ab ")
    (tmp_path / "ok.txt").write_text("ab ba  ab")
    assert round_trip(run, tmp_path / "ok.txt", tmp_path, "ok.out").read_text() == "ab ba  ab"
    (tmp_path / "bad.txt").write_text("abc")
    capsys.readouterr()
    assert main(["compress", run, str(tmp_path / "bad.txt"), "-o", str(tmp_path / "bad.crac")]) == 2
    assert "'c'" in capsys.readouterr().err


def test_wav_comes_back_as_the_same_codes(tmp_path):
    run = saved(tmp_path, "wavenet", (16,), 256)
    t = np.arange(4000) / 8000
    soundfile.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t), 8000)
    out = round_trip(run, tmp_path / "tone.wav", tmp_path, "back.wav")
    codes = encode(torch.from_numpy(read_wav(tmp_path / "tone.wav", 8000)[0]), "mulaw")
    assert torch.equal(encode(torch.from_numpy(read_wav(out, 8000)[0]), "mulaw"), codes)


def test_mistakes_give_one_line_and_exit_2(image_model, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 4, 4), dtype=np.uint8))
    packed = tmp_path / "x.crac"
    assert main(["compress", image_model, str(tmp_path / "x.npy"), "-o", str(packed)]) == 0
    other = saved(tmp_path, "gated-pixelcnn", (1, 4, 4), 256)
    np.save(tmp_path / "wide.npy", np.zeros((2, 5, 4), dtype=np.uint8))
    corrupt = tmp_path / "corrupt.crac"
    corrupt.write_bytes(packed.read_bytes()[:-9])
    cases = [
        (["decompress", other, str(packed), "-o", str(tmp_path / "y.npy")], "another model"),
        (["decompress", image_model, str(corrupt), "-o", str(tmp_path / "y.npy")], "corrupt or truncated"),
        (["decompress", image_model, str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy")], "not a chainrule"),
        (["compress", image_model, str(tmp_path / "wide.npy"), "-o", str(tmp_path / "w.crac")], "shape"),
        (["compress", image_model, str(tmp_path / "none.npy"), "-o", str(tmp_path / "w.crac")], "no such file"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_a_16_bit_png_the_model_cannot_represent_is_refused_not_clipped(tmp_path, capsys):
    run = saved(tmp_path, "pixelcnn", (1, 2, 4), 256)
    values = np.array([[0, 255, 256, 1000], [30000, 65535, 128, 4096]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert main(["compress", run, str(tmp_path / "deep.png"), "-o", str(tmp_path / "deep.crac")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "deep.png" in err and "I;16" in err and "256 levels" in err
    assert not (tmp_path / "deep.crac").exists()


def test_a_16_bit_png_within_the_levels_comes_back_with_its_values(tmp_path):
    run = saved(tmp_path, "pixelcnn", (1, 2, 4), 256)
    values = np.array([[0, 255, 17, 100], [3, 5, 128, 200]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.png")
    out = round_trip(run, tmp_path / "deep.png", tmp_path, "back.png")
    assert np.array_equal(np.asarray(Image.open(out)).astype(np.int64), values.astype(np.int64))


def test_a_transparent_png_is_refused_and_an_opaque_alpha_is_kept_lossless(tmp_path, capsys):
    run = saved(tmp_path, "pixelcnn", (3, 2, 2), 256)
    rgba = np.random.default_rng(3).integers(0, 256, (2, 2, 4)).astype(np.uint8)
    rgba[..., 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "opaque.png")
    out = round_trip(run, tmp_path / "opaque.png", tmp_path, "back.png")
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), rgba[..., :3])
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert main(["compress", run, str(tmp_path / "clear.png"), "-o", str(tmp_path / "c.crac")]) == 2
    assert "alpha" in capsys.readouterr().err
