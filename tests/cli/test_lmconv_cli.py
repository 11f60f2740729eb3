"""Any-order generation through the CLI: train over orders, eval under each and the ensemble, exact completion,
hidden-value scores, coding in a named order, and the one line bad requests get."""

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.cli.main import main
from tests.cli.test_cli import one_error_line

TINY = ["--set", "channels=6", "--set", "blocks=2", "--set", "first_kernel=3", "--set", "components=2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("lmconv") / "run"
    argv = ["train", "--model", "lmconv", "--data", "digits", "--orders", "3", *TINY, "--steps", "6"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    return out


def test_training_over_orders_is_recorded_and_eval_reports_each_and_the_ensemble(run_dir, capsys):
    model = cr.load(run_dir)
    assert model.trained_orders == ("s-curve", "s-curve:r90", "s-curve:r180")
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--orders", "3", "--limit", "40", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.count(": order s-curve") == 3 and "ensemble of 3 orders" in out


def test_complete_is_exact_for_every_region(run_dir, tmp_path, capsys):
    for region in ("center", "top", "random"):
        assert main(["complete", str(run_dir), "--hide", region, "-n", "2", "-o", str(tmp_path / "c.png")]) == 0
        assert "exact" in capsys.readouterr().out


def test_score_hidden_values_by_region_and_by_mask(run_dir, tmp_path, capsys):
    x = cr.data.load("digits", split="test").x[:3]
    model = cr.load(run_dir)
    if x.max() >= model.levels:
        x = x * (model.levels - 1) // int(x.max())
    np.save(tmp_path / "x.npy", x.numpy().astype(np.uint8))
    capsys.readouterr()
    assert main(["score", str(run_dir), str(tmp_path / "x.npy"), "--hide", "center", "--json"]) == 0
    mask = np.ones(model.shape[1:], dtype=bool)
    mask[2:6, 2:6] = False
    np.save(tmp_path / "mask.npy", mask)
    assert main(["score", str(run_dir), str(tmp_path / "x.npy"), "--given", str(tmp_path / "mask.npy")]) == 0
    assert "bits per hidden value" in capsys.readouterr().out
    np.save(tmp_path / "bad.npy", np.ones((3, 3), dtype=bool))
    assert main(["score", str(run_dir), str(tmp_path / "x.npy"), "--given", str(tmp_path / "bad.npy")]) == 2
    assert "mask of shape" in one_error_line(capsys)


def test_compress_in_a_named_order_round_trips(run_dir, tmp_path, capsys):
    x = torch.randint(0, cr.load(run_dir).levels, (4, *cr.load(run_dir).shape))
    np.save(tmp_path / "x.npy", x.numpy().astype(np.uint8))
    cr_file, back = tmp_path / "x.cr", tmp_path / "back.npy"
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(cr_file), "--order", "s-curve:r90"]) == 0
    assert main(["decompress", str(run_dir), str(cr_file), "-o", str(back)]) == 0
    assert np.array_equal(np.load(back), x.numpy().astype(np.uint8))
    capsys.readouterr()
    assert main(["compress", str(run_dir), str(tmp_path / "x.npy"), "-o", str(cr_file), "--order", "zigzag"]) == 2
    assert "unknown order" in one_error_line(capsys)


def test_orders_are_refused_where_they_do_not_apply(tmp_path, capsys):
    argv = ["train", "--model", "made", "--data", "digits", "--orders", "8", "--steps", "1", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "one order" in one_error_line(capsys)
    argv = ["train", "--model", "lmconv", "--data", "digits", "--orders", "9", "--steps", "1", "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "1..8" in one_error_line(capsys)


def test_bench_completion_prints_the_table_and_draws_the_picture(run_dir, tmp_path, capsys):
    raster = tmp_path / "raster"
    tiny = ["--set", "channels=4", "--set", "layers=2", "--set", "hidden=4"]
    argv = ["train", "--model", "gated-pixelcnn", "--data", "digits", *tiny, "--steps", "2", "--quiet"]
    assert main([*argv, "--out", str(raster)]) == 0
    picture = tmp_path / "completions.png"
    argv = ["bench", "completion", str(raster), str(run_dir), "-n", "3", "--particles", "2", "--picture", str(picture)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    for mask in ("center", "left", "top", "random"):
        assert f"| {mask} |" in out
    from PIL import Image

    with Image.open(picture) as image:  # 3 masks x 4 rows of 3 digits of 8x8, enlarged, with the grid's gaps
        width, height = image.size
    assert height > width * 3  # 12 rows of 3 images
    assert main(["bench", "completion", str(run_dir), str(raster)]) != 0  # the any-order run comes second
