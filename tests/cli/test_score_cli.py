"""`chainrule score` for every data kind: a table (or CSV / JSON) of bits per dimension and the method's score."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data.audio import write_wav
from tests.cli.test_cli import one_error_line


@pytest.fixture
def image_dir(tmp_path):
    torch.manual_seed(0)
    model = cr.models.create("pixelcnn", shape=(1, 6, 6), levels=256, channels=6, blocks=1, hidden=12)
    model.save(tmp_path / "image-model")
    return tmp_path, model


def score(*args) -> int:
    return main(["score", *map(str, args)])


def table(capsys):
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("score: ") and lines[1].split()[0] == "input"
    return [line.split() for line in lines[2:]]


def test_images_from_npy_and_png_folders(image_dir, capsys):
    tmp, model = image_dir
    x = np.random.default_rng(0).integers(0, 256, (3, 1, 6, 6)).astype(np.uint8)
    np.save(tmp / "x.npy", x)
    (tmp / "pngs").mkdir()
    for i in range(2):
        Image.fromarray(x[i, 0]).save(tmp / "pngs" / f"{i}.png")
    assert (
        main(["score", str(tmp / "image-model"), str(tmp / "x.npy"), str(tmp / "pngs"), "--csv", str(tmp / "s.csv")])
        == 0
    )
    rows = table(capsys)
    assert [r[0] for r in rows] == [f"{tmp}/x.npy[{i}]" for i in range(3)] + [f"{tmp}/pngs/{i}.png" for i in range(2)]
    with torch.no_grad():
        expected = -model.log_prob(torch.from_numpy(x).long()) / (36 * math.log(2))
    for row, want in zip(rows[:3], expected, strict=True):
        assert float(row[2]) == pytest.approx(float(want), abs=1e-3) and row[2] == row[3]  # likelihood = bits/dim
    assert rows[3][2] == rows[0][2]  # the same image read from a PNG
    assert (tmp / "s.csv").read_text().splitlines()[0] == "input,dims,bits/dim,likelihood"
    assert main(["score", str(tmp / "image-model"), str(tmp / "x.npy"), "--method", "complexity", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    from chainrule.scoring.scores import default_image_codec

    expected_codec = {"png": "PNG", "jpegxl": "JPEG XL"}[default_image_codec()]  # JPEG XL where cjxl is installed
    assert doc["codec"].startswith(expected_codec) and len(doc["rows"]) == 3
    assert score(tmp / "image-model", tmp / "x.npy", "--method", "ratio", "--background", tmp / "image-model") == 0
    assert all(float(r[3]) == 0 for r in table(capsys))


def test_text_and_audio_inputs(tmp_path, capsys):
    torch.manual_seed(0)
    cr.models.create("char-rnn", shape=(16,), levels=256, vocab="", hidden=8, layers=1).save(tmp_path / "text")
    (tmp_path / "a.txt").write_text("to be or not to be")
    assert main(["score", str(tmp_path / "text"), str(tmp_path / "a.txt"), "--method", "complexity"]) == 0
    rows = table(capsys)
    assert rows[0][0] == str(tmp_path / "a.txt") and rows[0][1] == "18"
    cr.models.create("wavenet", shape=(64,), levels=256, **cr.models.MODELS.get("wavenet").tiny).save(tmp_path / "wav")
    write_wav(tmp_path / "s.wav", 0.1 * torch.randn(400), 8000)
    assert main(["score", str(tmp_path / "wav"), str(tmp_path / "s.wav")]) == 0
    assert table(capsys)[0][1] == "400"


def test_typicality_scores_batches(image_dir, capsys):
    tmp, _ = image_dir
    np.save(tmp / "x.npy", np.zeros((5, 1, 6, 6), dtype=np.uint8))
    options = ["--method", "typicality", "--batch", 2, "--reference", 3.0, "--json"]
    assert score(tmp / "image-model", tmp / "x.npy", *options) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 3 and rows[0]["typicality"] == pytest.approx(abs(rows[0]["bits/dim"] - 3.0))
    assert main(["score", str(tmp / "image-model"), str(tmp / "x.npy"), "--method", "typicality", "--batch", "2"]) == 2
    assert "--reference" in one_error_line(capsys)  # a saved model without a run records no validation figure


def test_bad_inputs_give_one_line(image_dir, capsys):
    tmp, _ = image_dir
    np.save(tmp / "small.npy", np.zeros((2, 1, 5, 5), dtype=np.uint8))
    assert main(["score", str(tmp / "image-model"), str(tmp / "small.npy")]) == 2
    assert "shape" in one_error_line(capsys)
    np.save(tmp / "wide.npy", np.full((2, 1, 6, 6), 300, dtype=np.int16))
    assert main(["score", str(tmp / "image-model"), str(tmp / "wide.npy")]) == 2
    assert "values" in one_error_line(capsys)
    (tmp / "t.txt").write_text("not an image")
    assert main(["score", str(tmp / "image-model"), str(tmp / "t.txt")]) == 2
    one_error_line(capsys)
    np.save(tmp / "ok.npy", np.zeros((2, 1, 6, 6), dtype=np.uint8))
    assert main(["score", str(tmp / "image-model"), str(tmp / "ok.npy"), "--method", "ratio"]) == 2
    assert "background" in one_error_line(capsys)


def test_maps_are_written_and_decode(image_dir, tmp_path, capsys):
    tmp, _ = image_dir
    np.save(tmp / "x.npy", np.random.default_rng(1).integers(0, 256, (3, 1, 6, 6)).astype(np.uint8))
    assert main(["score", str(tmp / "image-model"), str(tmp / "x.npy"), "--map", str(tmp / "bits.png")]) == 0
    with Image.open(tmp / "bits.png") as im:
        assert im.width > im.height > 0  # pairs side by side
    torch.manual_seed(0)
    cr.models.create("char-rnn", shape=(16,), levels=256, vocab="", hidden=8, layers=1).save(tmp_path / "text")
    (tmp_path / "a.txt").write_text("naïve <tag> & text")
    assert main(["score", str(tmp_path / "text"), str(tmp_path / "a.txt"), "--map", str(tmp_path / "bits")]) == 0
    page = (tmp_path / "bits.html").read_text(encoding="utf-8")
    assert page.count("<span") == len("naïve <tag> & text") and "&lt;</span>" in page  # one per character, escaped
    cr.models.create("wavenet", shape=(64,), levels=256, **cr.models.MODELS.get("wavenet").tiny).save(tmp_path / "w")
    write_wav(tmp_path / "s.wav", 0.1 * torch.randn(400), 8000)
    assert main(["score", str(tmp_path / "w"), str(tmp_path / "s.wav"), "--map", str(tmp_path / "a.png")]) == 0
    with Image.open(tmp_path / "a.png") as im:
        im.load()
