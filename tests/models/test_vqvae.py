"""The VQ-VAE and VQ-VAE-2: the autoencoder, its training contract, codes as data, priors over codes, the CLI flow."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

import chainrule as cr
from chainrule.cli.main import main
from chainrule.errors import ConfigError, InputError
from chainrule.models import codes

TINY = dict(hidden=8, residual_hidden=4, residual_layers=1, codes=16, code_dim=4, downsample=2)


def vqvae(**extra):
    torch.manual_seed(0)
    return cr.models.create("vqvae", shape=(1, 8, 8), levels=17, **{**TINY, **extra})


def stripes(n: int) -> torch.Tensor:
    """Toy images: one of four stripe patterns at one of two intensities, long (n, 1, 8, 8) at 17 levels."""
    g = torch.Generator().manual_seed(0)
    pattern = torch.randint(0, 4, (n,), generator=g)
    rows, cols = torch.arange(8)[:, None].expand(8, 8), torch.arange(8)[None, :].expand(8, 8)
    masks = torch.stack([rows % 2 == 0, cols % 2 == 0, rows < 4, cols < 4]).long()  # (4, 8, 8)
    level = torch.where(torch.rand(n, generator=g) < 0.5, 16, 8)
    return (masks[pattern] * level[:, None, None])[:, None]


def test_training_on_toy_images_lowers_the_error_and_uses_the_codebook():
    model = vqvae().train()
    x = stripes(64)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for step in range(150):
        loss, metrics = model.objective(x, None, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        model.after_step()
        first = first if first is not None else float(metrics["mse"])
    assert float(metrics["mse"]) < first / 4
    model.eval()
    result = model.evaluation_result(model.evaluation_sums(x, None), len(x))
    assert result["psnr"] == pytest.approx(10 * math.log10(4 / result["mse"]))
    assert result["perplexity"] > 2 and 0 < result["usage"] <= 1 and result["dead"] >= 0
    assert set(model.metric_columns) <= set(result) and set(model.metric_columns) == set(metrics)


def test_encode_and_decode_round_trip_shapes_and_levels():
    for hierarchy, shapes in ((1, [(1, 4, 4)]), (2, [(1, 2, 2), (1, 4, 4)])):
        model = vqvae(hierarchy=hierarchy).eval()
        grids = model.encode(stripes(3))
        assert [tuple(g.shape[1:]) for g in grids] == shapes == model.code_shapes
        assert all(int(g.max()) < 16 and int(g.min()) >= 0 for g in grids)
        images = model.decode(grids)
        assert images.shape == (3, 1, 8, 8) and images.dtype == torch.long
        assert int(images.min()) >= 0 and int(images.max()) <= 16
        with pytest.raises(InputError, match="decodes code grids"):
            model.decode(grids[:1] if hierarchy == 2 else grids * 2)


def test_decode_reads_the_codebook_vectors():
    model = vqvae().eval()
    grid = model.encode(stripes(2))[0]
    vectors = model.quantizers[0].embed(grid[:, 0])
    assert torch.equal(model.decode([grid]), model.to_levels(model.decode_vectors([vectors])))


def test_bad_images_and_configs_are_refused():
    model = vqvae()
    with pytest.raises(InputError, match="shape"):
        model.encode(torch.zeros(2, 1, 6, 6, dtype=torch.long))
    with pytest.raises(InputError, match="values"):
        model.encode(torch.full((2, 1, 8, 8), 17))
    with pytest.raises(ConfigError, match="multiple of 4"):
        vqvae(hierarchy=2, downsample=2).__class__(
            cr.models.vqvae.VQVAEConfig((1, 6, 6), 17, hierarchy=2, downsample=2)
        )
    with pytest.raises(ConfigError, match="power of 2"):
        vqvae(downsample=3)


def test_save_and_load_are_exact(tmp_path):
    model = vqvae(hierarchy=2).eval()
    model.save(tmp_path / "vq")
    again = cr.load(tmp_path / "vq")
    x = stripes(4)
    assert all(torch.equal(a, b) for a, b in zip(model.encode(x), again.encode(x), strict=True))
    assert sorted(p.name for p in (tmp_path / "vq").iterdir()) == ["config.json", "model.safetensors"]


def test_codes_are_nominal_data_for_a_prior(tmp_path):
    out = tmp_path / "vq"
    train_vq(out, 8)
    splits = codes.code_splits(f"codes:{out}")
    train = splits["train"]
    assert train.kind == cr.data.DataKind.codes(16) and train.shape == (1, 4, 4) and train.levels == 16
    vq = codes.load_vqvae(out)
    images = cr.data.load_splits("digits")["train"]
    assert torch.equal(train.x[:5], vq.encode(images.x[:5])[0])
    assert train.labels is not None and torch.equal(train.labels, images.labels)
    with pytest.raises(ConfigError, match="single grid"):
        codes.code_splits(f"codes:{out}:bottom")
    with pytest.raises(ConfigError, match="cannot model VQ-VAE codes"):
        cr.train.train_model("made", f"codes:{out}", tmp_path / "m", train={"steps": 1}, progress=False)


def sets(values: dict) -> list[str]:
    return [item for k, v in values.items() for item in ("--set", f"{k}={v}")]


def train_vq(out, steps: int, **extra) -> None:
    """A tiny VQ-VAE on the digits through the CLI."""
    args = ["train", "--model", "vqvae", "--data", "digits", *sets({**TINY, **extra}), "--steps", str(steps)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0


def train_prior(family: str, data: str, out, steps: int) -> None:
    """A tiny prior of `family` over `data` (codes:...) through the CLI."""
    args = ["train", "--model", family, "--data", data, *sets(cr.models.MODELS.get(family).tiny), "--steps", str(steps)]
    assert main([*args, "--out", str(out), "--quiet"]) == 0


@pytest.mark.parametrize("prior", ["gated-pixelcnn", "pixelsnail"])
def test_the_one_level_flow_trains_a_prior_and_samples_images(tmp_path, prior, capsys):
    vq, run = tmp_path / "vq", tmp_path / "prior"
    train_vq(vq, 6)
    train_prior(prior, f"codes:{vq}", run, 4)
    assert (run / "vqvae" / "model.safetensors").is_file()
    header = (vq / "metrics.csv").read_text().splitlines()[0]
    assert header == (
        "step,epoch,seconds,lr,train_loss,train_mse,train_psnr,train_perplexity,train_dead,"
        "val_loss,val_mse,val_psnr,val_perplexity,val_dead"
    )
    results = cr.serialization.read_json(run / "results.json")
    assert results["test_bpd"] > 0  # bits per code
    model = cr.load(run)
    assert model.data_kind.is_codes and model.shape == (1, 4, 4) and model.levels == 16
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "s.png"), "--seed", "1"]) == 0
    with Image.open(tmp_path / "s.png") as image:
        picture = np.asarray(image)
    assert picture.shape[0] >= 8 and picture.shape[1] >= 4 * 8  # four decoded 8x8 images
    import shutil

    shutil.rmtree(vq)  # the prior's run keeps its own copy of the VQ-VAE: it samples and finds its data alone
    assert main(["sample", str(run), "-n", "2", "-o", str(tmp_path / "t.png"), "--seed", "1"]) == 0
    from chainrule.cli.common import run_data

    test = run_data(str(run), "test")
    assert test.kind.is_codes and len(test) == 359
    assert main(["eval", str(run)]) == 0


def test_commands_refuse_a_vqvae_run_with_one_line(tmp_path, capsys):
    vq = tmp_path / "vq"
    train_vq(vq, 2)
    capsys.readouterr()
    assert main(["sample", str(vq), "-n", "2", "-o", str(tmp_path / "s.png")]) != 0
    err = capsys.readouterr().err.strip()
    assert "train a prior on its codes" in err and len(err.splitlines()) == 1
    assert (
        main(["train", "--model", "vqvae", "--data", "shakespeare", "--steps", "1", "--out", str(tmp_path / "t")]) != 0
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A tiny VQ-VAE on digits and a Gated PixelCNN prior over its codes."""
    root = tmp_path_factory.mktemp("pair")
    vq, run = root / "vq", root / "prior"
    train_vq(vq, 6)
    train_prior("gated-pixelcnn", f"codes:{vq}", run, 3)
    return vq, run


def test_lossy_compression_round_trips_the_codes(pair, tmp_path, capsys):
    vq, run = pair
    images = cr.data.load_splits("digits")["test"].x[:12]
    np.save(tmp_path / "in.npy", images.numpy().astype(np.uint8)[:, 0])  # (N, H, W) grey
    capsys.readouterr()
    assert main(["compress", "--lossy", str(run), str(tmp_path / "in.npy"), "-o", str(tmp_path / "f.cr")]) == 0
    said = capsys.readouterr().out
    assert "bits/pixel" in said and "PSNR" in said
    assert main(["decompress", str(run), str(tmp_path / "f.cr"), "-o", str(tmp_path / "out.npy")]) == 0
    back = np.load(tmp_path / "out.npy")
    vqvae = codes.load_vqvae(vq)
    assert back.shape == (12, 8, 8) and back.dtype == np.uint8
    assert np.array_equal(back, vqvae.decode(vqvae.encode(images)).numpy()[:, 0])
    from chainrule.coding import lossy

    prior = cr.load(run)
    blob = (tmp_path / "f.cr").read_bytes()
    assert lossy.is_lossy(blob)
    grids = cr.coding.codec.decompress(prior, blob)
    assert torch.equal(grids, vqvae.encode(images)[0])  # the codes themselves come back exactly


def test_plain_compress_refuses_a_prior_over_codes(pair, tmp_path, capsys):
    _, run = pair
    np.save(tmp_path / "in.npy", np.zeros((2, 8, 8), dtype=np.uint8))
    capsys.readouterr()
    assert main(["compress", str(run), str(tmp_path / "in.npy"), "-o", str(tmp_path / "f.cr")]) != 0
    err = capsys.readouterr().err.strip()
    assert "--lossy" in err and len(err.splitlines()) == 1
    assert main(["compress", "--lossy", str(run), str(tmp_path / "in.npy"), "-o", str(tmp_path / "f.cr")]) == 0
    np.save(tmp_path / "big.npy", np.zeros((2, 16, 16), dtype=np.uint8))
    assert main(["compress", "--lossy", str(run), str(tmp_path / "big.npy"), "-o", str(tmp_path / "g.cr")]) != 0


def test_the_two_level_flow_samples_bottom_codes_given_sampled_top_codes(tmp_path, capsys):
    vq, top, bottom = tmp_path / "vq2", tmp_path / "top", tmp_path / "bottom"
    train_vq(vq, 4, hierarchy=2)
    for grid, run in ((f"codes:{vq}", top), (f"codes:{vq}:bottom", bottom)):
        train_prior("gated-pixelcnn", grid, run, 2)
    prior = cr.load(bottom)
    assert prior.map_shape == (1, 2, 2) and prior.map_levels == 16 and prior.shape == (1, 4, 4)
    splits = codes.code_splits(f"codes:{vq}:bottom")
    vqvae = codes.load_vqvae(vq)
    x = cr.data.load_splits("digits")["val"].x[:4]
    top_codes, bottom_codes = vqvae.encode(x)
    assert torch.equal(splits["val"].maps[:4].long(), top_codes) and torch.equal(splits["val"].x[:4], bottom_codes)
    capsys.readouterr()
    assert main(["sample", str(bottom), "-n", "3", "-o", str(tmp_path / "s.png")]) != 0
    assert "--top" in capsys.readouterr().err
    assert (
        main(["sample", str(bottom), "--top", str(top), "-n", "3", "-o", str(tmp_path / "s.png"), "--seed", "2"]) == 0
    )
    with Image.open(tmp_path / "s.png") as image:
        assert image.width >= 3 * 8
    assert main(["sample", str(top), "-n", "3", "-o", str(tmp_path / "t.png")]) != 0  # the top grid alone: no image
    # lossy compression walks both grids: the top codes, then the bottom given them
    np.save(tmp_path / "in.npy", x.numpy().astype(np.uint8)[:, 0])
    f = tmp_path / "f.cr"
    assert main(["compress", "--lossy", str(bottom), str(tmp_path / "in.npy"), "-o", str(f)]) != 0
    assert "--top" in capsys.readouterr().err
    assert main(["compress", "--lossy", str(bottom), "--top", str(top), str(tmp_path / "in.npy"), "-o", str(f)]) == 0
    assert main(["decompress", str(bottom), "--top", str(top), str(f), "-o", str(tmp_path / "out.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), vqvae.decode(vqvae.encode(x)).numpy()[:, 0])
    from chainrule.coding import lossy

    blob = f.read_bytes()
    assert lossy.is_lossy(blob) and lossy.grids_of(blob) == 2
    priors = [cr.load(top), prior]
    with pytest.raises(cr.errors.CompressedFileError):  # a truncated frame
        lossy.decompress(priors, vqvae, blob[: len(lossy.FRAME) + 10])
    with pytest.raises(cr.errors.InputError):  # the priors the wrong way round
        lossy.compress(priors[::-1], vqvae, x)
    row = __import__("chainrule.bench.latent", fromlist=["figures"]).figures(
        str(bottom), limit=3, samples=2, pixel=False, top=str(top)
    )
    assert row["lossy_bpp"] > 0 and len(row["code_shape"]) == 2
    assert row["prior_bits_per_pixel"] == pytest.approx(
        (row["prior_bits_per_code"][0] * 4 + row["prior_bits_per_code"][1] * 16) / 64
    )


def test_the_latent_benchmark_reports_every_figure(pair):
    from chainrule.bench import latent

    _, run = pair
    row = latent.figures(str(run), limit=6, samples=2)
    assert row["images"] == 6 and row["code_shape"] == [1, 4, 4] and 0 < row["usage"] <= 1
    assert row["lossy_bpp"] > 0 and row["jpeg_bpp"] > 0 and row["webp_bpp"] > 0
    assert row["jpeg_psnr"] > 0 and math.isfinite(row["psnr"])
    assert row["prior_bits_per_pixel"] == pytest.approx(row["prior_bits_per_code"] * 16 / 64)
    assert row["latent_seconds"] > 0 and row["pixel_seconds"] > 0
    assert 0.5 < row["pixel_parameters"] / row["prior_parameters"] < 2


def test_matched_quality_reaches_the_target_psnr():
    from chainrule.bench import latent

    ramp = np.add.outer(np.arange(32), np.arange(32)).astype(np.uint8) * 3
    image = np.stack([ramp, ramp, 255 - ramp])  # smooth colour ramps
    size, quality = latent.matched(image, 30.0, "JPEG")
    assert quality >= 30.0 and size > 0
    smaller, lower = latent.matched(image, 20.0, "JPEG")
    assert smaller <= size and lower >= 20.0
    if "JXL" in latent.classic_formats():  # JPEG XL through cjxl / djxl where installed
        size, quality = latent.matched(image, 30.0, "JXL")
        assert quality >= 30.0 and size > 0
        smaller, lower = latent.matched(image, 20.0, "JXL")
        assert smaller <= size and lower >= 20.0


def test_complete_fills_in_codes_and_decodes(pair, tmp_path, capsys):
    _, run = pair
    capsys.readouterr()
    out = tmp_path / "c.png"
    assert main(["complete", str(run), "-n", "3", "--hide", "center", "-o", str(out), "--seed", "1"]) == 0
    assert "completions" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.width >= 3 * 8 and image.height >= 3 * 8  # three rows of 8x8 images


def test_a_class_conditional_prior_over_codes_samples_a_class(pair, tmp_path, capsys):
    vq, _ = pair
    run = tmp_path / "conditional"
    tiny = sets(cr.models.MODELS.get("gated-pixelcnn").tiny)
    args = ["train", "--model", "gated-pixelcnn", "--data", f"codes:{vq}", *tiny, "--set", "num_classes=10"]
    assert main([*args, "--steps", "2", "--out", str(run), "--quiet"]) == 0
    prior = cr.load(run)
    assert prior.num_classes == 10 and prior.data_kind.is_codes
    test = codes.code_splits(f"codes:{vq}", only=("test",))["test"]
    with torch.no_grad():
        a = prior.log_prob(test.x[:4], test.labels[:4])
        b = prior.log_prob(test.x[:4], (test.labels[:4] + 1) % 10)
    assert torch.isfinite(a).all() and torch.isfinite(b).all()
    assert main(["sample", str(run), "--class", "3", "-n", "2", "-o", str(tmp_path / "c.png"), "--seed", "0"]) == 0


def test_a_two_level_vqvae_on_emoji_with_class_conditional_priors_samples_a_class(tmp_path):
    from chainrule.data import emoji

    if not (emoji.font_path().is_file() and emoji.table_path().is_file()):
        pytest.skip(f"emoji64 needs: {emoji.INSTALL}")
    vq, top, bottom = tmp_path / "vq2", tmp_path / "top", tmp_path / "bottom"
    args = ["train", "--model", "vqvae", "--data", "emoji64", *sets({**TINY, "hierarchy": 2}), "--steps", "2"]
    assert main([*args, "--train-set", "eval_examples=16", "--out", str(vq), "--quiet"]) == 0
    vqvae = codes.load_vqvae(vq)
    top_codes, bottom_codes = vqvae.encode(cr.data.load_splits("emoji64")["test"].x[:2])
    assert bottom_codes.shape == (2, 1, 32, 32) and top_codes.shape == (2, 1, 16, 16)  # the grids
    for family, grid, run in (("pixelsnail", f"codes:{vq}", top), ("gated-pixelcnn", f"codes:{vq}:bottom", bottom)):
        tiny = sets(cr.models.MODELS.get(family).tiny)
        extra = ["--set", "num_classes=9", "--train-set", "eval_examples=16"]
        assert main(["train", "--model", family, "--data", grid, *tiny, *extra, "--steps", "1", "--out", str(run)]) == 0
        assert cr.load(run).num_classes == 9
    out = tmp_path / "smileys.png"
    sample = ["sample", str(bottom), "--top", str(top), "--class", "0", "-n", "2", "-o", str(out), "--seed", "1"]
    assert main(sample) == 0
    with Image.open(out) as image:
        assert image.width >= 2 * 64 and image.mode == "RGB"
    # lossy compression with class-conditional priors: the class is stored and the codes come back
    images = cr.data.load_splits("emoji64")["test"].x[:2]
    from chainrule.coding import lossy

    priors = [cr.load(top), cr.load(bottom)]
    with pytest.raises(cr.errors.InputError, match="class"):
        lossy.compress(priors, vqvae, images)
    blob = lossy.compress(priors, vqvae, images, classes=torch.tensor([0, 3]))
    back, _ = lossy.decompress(priors, vqvae, blob)
    assert torch.equal(back, vqvae.decode(vqvae.encode(images)))
    other = lossy.compress(priors, vqvae, images, classes=torch.tensor([5, 3]))
    assert other != blob  # the class conditions the code lengths (and is stored)


def test_mirrored_codes_are_the_codes_of_mirrored_images(tmp_path):
    out = tmp_path / "vq"
    train_vq(out, 4)
    plain, mirrored = codes.code_splits(f"codes:{out}"), codes.code_splits(f"codes:{out}", mirror=True)
    n, vq = len(plain["train"]), codes.load_vqvae(out)
    images = cr.data.load_splits("digits")["train"]
    train = mirrored["train"]
    assert len(train) == 2 * n and train.mirrored and torch.equal(train.x[:n], plain["train"].x)
    assert torch.equal(train.x[n : n + 5], vq.encode(images.x[:5].flip(-1))[0])
    assert torch.equal(mirrored["test"].x, plain["test"].x)
    prior = tmp_path / "prior"
    args = ["train", "--model", "gated-pixelcnn", "--data", f"codes:{out}", "--mirror"]
    assert main([*args, *sets(cr.models.MODELS.get("gated-pixelcnn").tiny), "--steps", "2", "--out", str(prior)]) == 0
    assert len(codes.run_data(cr.train.run_info(prior)["data"], run=prior)["train"]) == 2 * n
