"""Image-to-image models (`--condition lowres:F | grey`): the tasks, a trained tiny case that uses its condition, and
the upscale / colourise commands with their refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data import Condition
from chainrule.data.conditions import ConditionTask
from chainrule.errors import ConfigError

SMALL = ["--set", "channels=8", "--set", "layers=3", "--set", "hidden=16", "--set", "map_channels=8"]


def test_the_tasks_by_hand():
    x = torch.tensor([[[[0, 2, 4, 4], [2, 4, 4, 4], [8, 8, 1, 1], [8, 8, 1, 2]]]])  # (1, 1, 4, 4)
    low = ConditionTask.parse("lowres:2")
    assert low.source(x, 9).tolist() == [[[[2, 4], [8, 1]]]]  # block means 2, 4, 8, 1.25 → rounded
    assert low.source_shape((1, 4, 4)) == (1, 2, 2)
    torch.testing.assert_close(low.to_map(torch.tensor([0, 8]), 9), torch.tensor([-1.0, 1.0]))
    rgb = torch.tensor([100, 200, 50]).view(1, 3, 1, 1)
    assert ConditionTask.parse("grey").source(rgb, 256).item() == round(0.299 * 100 + 0.587 * 200 + 0.114 * 50)
    for bad in ("lowres", "lowres:1", "blur", "grey:2"):
        with pytest.raises(ConfigError):
            ConditionTask.parse(bad)
    with pytest.raises(ConfigError, match="multiple of 3"):
        ConditionTask.parse("lowres:3").check((1, 8, 8))
    with pytest.raises(ConfigError, match="colour"):
        ConditionTask.parse("grey").check((1, 8, 8))


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    """A tiny Gated PixelCNN trained on digits given their 4x4 versions (lowres:2)."""
    run = tmp_path_factory.mktemp("sr") / "run"
    args = ["train", "--model", "gated-pixelcnn", "--data", "digits", *SMALL, "--condition", "lowres:2"]
    assert main([*args, "--steps", "150", "--lr", "1e-2", "--out", str(run), "--quiet"]) == 0
    return run


def test_a_trained_model_scores_an_image_better_given_its_own_low_resolution(upscaler):
    model = cr.load(upscaler)
    data = cr.data.load_splits("digits", condition="lowres:2")["test"]
    x, own = data.x[:200], data.maps[:200]
    other = own.roll(1, 0)  # another example's low-resolution image
    with torch.no_grad():
        given_own = model.log_prob(x, Condition(map=own))
        given_other = model.log_prob(x, Condition(map=other))
    assert float((given_own - given_other).mean()) > 5.0  # nats per image
    assert float((given_own > given_other).double().mean()) > 0.9
    assert cr.serialization.read_json(upscaler / "run.json")["data"]["condition"] == "lowres:2"


def test_upscale_writes_a_grid_and_refuses_bad_inputs(upscaler, tmp_path, capsys):
    x = cr.data.load_splits("digits")["test"].x[:2].numpy().astype(np.uint8)
    np.save(tmp_path / "big.npy", x[:, 0])  # (N, H, W) at the model's size: reduced first, original shown
    Image.fromarray(x[0, 0, ::2, ::2]).save(tmp_path / "small.png")
    out = tmp_path / "up.png"
    capsys.readouterr()
    assert main(["upscale", str(upscaler), str(tmp_path / "big.npy"), str(tmp_path / "small.png"), "-n", "2",
                 "-o", str(out), "--seed", "0"]) == 0  # fmt: skip
    assert "bicubic" in capsys.readouterr().out
    with Image.open(out) as grid:
        assert grid.width >= 5 * 8 and grid.height >= 3 * 8  # 3 rows of input, bicubic, 2 samples, original
    np.save(tmp_path / "odd.npy", x[:, 0, :6, :6])
    (tmp_path / "notes.txt").write_text("not an image")
    for bad in (tmp_path / "odd.npy", tmp_path / "notes.txt", tmp_path / "missing.png"):
        capsys.readouterr()
        assert main(["upscale", str(upscaler), str(bad), "-o", str(tmp_path / "x.png")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert main(["colourise", str(upscaler), str(tmp_path / "big.npy")]) == 2  # a super-resolution run
    capsys.readouterr()
    assert main(["sample", str(upscaler), "-n", "2", "-o", str(tmp_path / "s.png")]) == 2
    assert "chainrule upscale" in capsys.readouterr().err
    assert main(["eval", str(upscaler)]) == 0  # evaluation rebuilds the task's maps


def test_colourise_draws_colour_images_from_grey_ones(tmp_path, capsys):
    run = tmp_path / "colour"
    args = ["train", "--model", "gated-pixelcnn", "--data", "photos32", *SMALL, "--set", "channels=9"]
    assert main([*args, "--set", "hidden=18", "--condition", "grey", "--steps", "2", "--out", str(run), "--quiet"]) == 0
    photos = cr.data.load_splits("photos32")["test"].x[:2]
    np.save(tmp_path / "rgb.npy", photos.numpy().astype(np.uint8))
    grey = ConditionTask.parse("grey").source(photos, 256)
    np.save(tmp_path / "grey.npy", grey[:, 0].numpy().astype(np.uint8))
    for name in ("rgb.npy", "grey.npy"):
        assert main(["colourise", str(run), str(tmp_path / name), "-n", "2", "-o", str(tmp_path / "c.png")]) == 0
        with Image.open(tmp_path / "c.png") as grid:
            assert grid.mode == "RGB" and grid.width >= 4 * 32
    model = cr.load(run)
    assert model.map_shape == (1, 32, 32) and model.map_levels == 0


def test_the_upscale_benchmark_reports_every_figure(upscaler):
    from chainrule.bench import upscale

    row = upscale.figures(str(upscaler), None, images=4, samples=2)
    assert row["task"] == "lowres:2" and row["images"] == 4 and row["conditional_bpd"] > 0
    for key in ("sample", "mean", "bicubic"):
        assert 0 < row[f"{key}_psnr"] < 100 and -1 <= row[f"{key}_ssim"] <= 1
    assert 0 <= row["consistency_within_1"] <= 1 and row["consistency_mse"] >= 0 and row["seconds_per_image"] > 0


def test_ssim_and_psnr_by_hand():
    from chainrule.bench import upscale

    x = torch.randint(0, 256, (2, 3, 16, 16))
    assert torch.allclose(upscale.ssim(x, x, 255), torch.ones(2, dtype=torch.float64))
    assert float(upscale.ssim(x, 255 - x, 255).max()) < 0
    y = x.clone()
    y[:, :, 0, 0] = (y[:, :, 0, 0] + 16) % 256  # one value per channel off by 16 (or 240 where it wrapped)
    mse = (x - y).double().pow(2).flatten(1).mean(1)
    torch.testing.assert_close(upscale.psnr(x, y, 255), 10 * torch.log10(255**2 / mse))
