"""The second outside audit's defects (issue 31), one test each, numbered as the audit numbered them; each failed
on the code before its fix. Command-line cases end in one error line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import math
import os
import shutil
import stat

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule.cli.main import main
from chainrule.coding import container
from chainrule.errors import CheckpointError, CompressedFileError, ConfigError, InputError
from chainrule.sampling.completion import Completion, summary
from tests.cli.test_cli import one_error_line


@pytest.fixture
def image_run(tmp_path):
    torch.manual_seed(0)
    model = cr.models.create("pixelcnn", shape=(1, 6, 6), levels=256, channels=6, blocks=1, hidden=12)
    model.save(tmp_path / "image-model")
    return tmp_path / "image-model", model


@pytest.fixture
def text_run(tmp_path):
    torch.manual_seed(0)
    model = cr.models.create("char-rnn", shape=(16,), levels=256, **cr.models.MODELS.get("char-rnn").tiny)
    model.save(tmp_path / "text-model")
    return tmp_path / "text-model", model


def refused(capsys, *argv) -> str:
    capsys.readouterr()
    assert main([str(a) for a in argv]) != 0
    return one_error_line(capsys)


def recrafted(blob: bytes, **changes) -> bytes:
    """The file with header fields changed and its CRC recomputed (as an attacker would)."""
    header, payload = container.unpack(blob)
    for key, value in changes.items():
        setattr(header, key, value)
    return container.pack(header, payload)


# 1. a header count no payload can hold


def test_1_a_header_count_beyond_what_the_payload_can_hold_is_refused_before_allocating(text_run, tmp_path, capsys):
    run, model = text_run
    blob = cr.coding.compress(model, torch.tensor(list(b"hello world"), dtype=torch.long))
    crafted = recrafted(blob, count=4_000_000_000)
    assert len(crafted) < 64
    with pytest.raises(CompressedFileError, match="payload can code"):
        cr.coding.decompress(model, crafted)
    (tmp_path / "c.crac").write_bytes(crafted)
    assert "payload can code" in refused(capsys, "decompress", run, tmp_path / "c.crac", "-o", tmp_path / "out")
    assert container.max_symbols(36, 256) < 10**8 < container.max_symbols(36, 2)


# 2. non-finite weights


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_2_non_finite_weights_are_refused_at_load_naming_the_tensor(image_run, bad):
    run, _ = image_run
    weights = cr.serialization.read_tensors(run / "model.safetensors")
    name = sorted(weights)[0]
    weights[name].view(-1)[0] = bad
    cr.serialization.write_tensors(run / "model.safetensors", weights)
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        cr.load(run)


# 3. empty inputs to score


def test_3_empty_inputs_to_score_are_refused_with_one_line(image_run, text_run, tmp_path, capsys):
    run, model = image_run
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 6, 6), dtype=np.uint8))
    for extra in ([], ["--csv", tmp_path / "s.csv"], ["--method", "typicality", "--batch", "2", "--reference", "3"]):
        assert "no examples" in refused(capsys, "score", run, tmp_path / "empty.npy", *extra)
    text, text_model = text_run
    (tmp_path / "empty.txt").write_bytes(b"")
    assert "empty" in refused(capsys, "score", text, tmp_path / "empty.txt")
    with pytest.raises(InputError, match="0..255"):
        cr.score(text_model, [torch.tensor([300, 5])])
    with pytest.raises(InputError, match="empty"):
        cr.score(text_model, [torch.tensor([], dtype=torch.long)])
    with pytest.raises(InputError, match="no inputs"):
        cr.score(model, torch.zeros(0, 1, 6, 6, dtype=torch.long))


def test_3_an_empty_text_is_refused_by_the_transformer_too(tmp_path, capsys):
    model = cr.models.create("transformer", shape=(16,), levels=256, **cr.models.MODELS.get("transformer").tiny)
    model.save(tmp_path / "t")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert "empty" in refused(capsys, "score", tmp_path / "t", tmp_path / "empty.txt")


# 4. the header's extra facts


@pytest.mark.parametrize(
    "extra,words",
    [
        ({"kind": "npy", "shape": [2, 1, 6, 6], "dtype": "|i1"}, "cannot hold 256 levels"),
        ({"kind": "npy", "shape": [2, 1, 6, 6], "dtype": "<f8"}, "not an integer dtype"),
        ({"kind": "npy", "shape": [2, 1, 6, 6], "dtype": "O"}, "not an integer dtype"),
        ({"kind": "npy", "shape": [2, 1, 6, 6], "dtype": "xyz"}, "not an integer dtype"),
        ({"kind": "npy", "shape": [5], "dtype": "|u1"}, "does not fit"),
        ({"kind": "npy", "shape": "5", "dtype": "|u1"}, "not a list"),
        ({"kind": "npy", "dtype": "|u1"}, "expected"),
        ({"kind": "png", "names": ["a.png"]}, "2 non-empty strings"),
        ({"kind": "png", "names": [1, 2]}, "2 non-empty strings"),
        ({"kind": "png", "names": ["../a.png", "b.png"]}, "unsafe path"),
        ({"kind": "wav", "rate": 8000}, "this model codes image"),
        ({"kind": "exe"}, "no known file kind"),
    ],
)
def test_4_crafted_extra_facts_are_refused_before_decoding_and_nothing_is_written(
    image_run, tmp_path, capsys, extra, words
):
    run, model = image_run
    x = torch.randint(0, 256, (2, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    (tmp_path / "c.crac").write_bytes(recrafted(cr.coding.compress(model, x), extra=extra))
    assert words in refused(capsys, "decompress", run, tmp_path / "c.crac", "-o", tmp_path / "out.npy")
    assert not (tmp_path / "out.npy").exists()


def test_4_a_wide_integer_dtype_is_written_back_exactly_without_a_pickle(image_run, tmp_path):
    run, model = image_run
    x = np.random.default_rng(0).integers(0, 256, (2, 6, 6)).astype("<i2")
    np.save(tmp_path / "x.npy", x)
    assert main(["compress", str(run), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.crac")]) == 0
    assert main(["decompress", str(run), str(tmp_path / "x.crac"), "-o", str(tmp_path / "y.npy")]) == 0
    back = np.load(tmp_path / "y.npy", allow_pickle=False)
    assert back.dtype == x.dtype and np.array_equal(back, x)


# 5 - 7, 9. what sampling is asked for


def test_5_n_must_match_the_known_examples_with_or_without_particles(image_run):
    _, model = image_run
    known = torch.full((1, 1, 6, 6), -1)
    known[..., :3, :] = 7
    for n, k, particles in ((5, 1, 4), (1, 3, 4), (5, 1, 1), (1, 3, 1)):
        with pytest.raises(InputError, match=f"known holds {k} example"):
            model.sample(n, known=known.expand(k, -1, -1, -1), particles=particles)
    assert model.sample(2, known=known.expand(2, -1, -1, -1), particles=3).shape == (2, 1, 6, 6)


def test_6_a_huge_count_is_refused_up_front_and_large_ones_are_drawn_in_batches(image_run, tmp_path, capsys):
    run, model = image_run
    assert "more than one call can hold" in refused(capsys, "sample", run, "-n", 100_000_000, "-o", tmp_path / "s.png")
    with pytest.raises(InputError, match="ask for at most"):
        model.sample(10**9)
    gen = torch.Generator().manual_seed(0)
    small = cr.models.create("made", shape=(3,), levels=2, hidden=(4,))
    drawn = small.sample(2500, generator=gen)  # three batches of at most 1024
    assert drawn.shape == (2500, 3) and drawn.min() >= 0 and drawn.max() <= 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_7_a_temperature_must_be_finite_and_positive(image_run, bad):
    _, model = image_run
    with pytest.raises(InputError, match="finite positive"):
        model.sample(2, temperature=bad)
    with pytest.raises(InputError, match="finite positive"):
        model.sample(1, temperature=bad, known=torch.full((1, 1, 6, 6), -1), particles=2)


def test_7_and_9_the_command_line_refuses_bad_counts_and_temperatures(image_run, tmp_path, capsys):
    run, _ = image_run
    out = tmp_path / "s.png"
    for argv in (["-n", "0"], ["-n", "-3"], ["--temperature", "nan"], ["--temperature", "0"]):
        capsys.readouterr()
        with pytest.raises(SystemExit) as stop:
            main(["sample", str(run), *argv, "-o", str(out)])
        assert stop.value.code == 2 and "Traceback" not in capsys.readouterr().err
    np.save(tmp_path / "x.npy", np.zeros((8, 1, 6, 6), dtype=np.uint8))
    for argv in (["-n", "-3"], ["-n", "0"], ["--temperature", "nan"]):
        with pytest.raises(SystemExit):
            main(["complete", str(run), str(tmp_path / "x.npy"), *argv, "-o", str(out)])
    assert not out.exists()


# 8, 10. empty inputs elsewhere, and .npz for every command


def test_8_complete_refuses_an_empty_array_with_one_line(image_run, tmp_path, capsys):
    run, _ = image_run
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 6, 6), dtype=np.uint8))
    assert "no examples" in refused(capsys, "complete", run, tmp_path / "empty.npy", "-o", tmp_path / "c.png")
    assert "no examples" in refused(capsys, "compress", run, tmp_path / "empty.npy", "-o", tmp_path / "c.crac")


def test_10_an_npz_is_read_the_same_by_score_compress_and_complete(image_run, tmp_path, capsys):
    run, model = image_run
    x = np.random.default_rng(2).integers(0, 256, (3, 1, 6, 6)).astype(np.uint8)
    np.savez(tmp_path / "x.npz", x=x)
    np.save(tmp_path / "x.npy", x)
    capsys.readouterr()
    assert main(["score", str(run), str(tmp_path / "x.npz"), "--json"]) == 0
    from_npz = json.loads(capsys.readouterr().out)["rows"]
    assert main(["score", str(run), str(tmp_path / "x.npy"), "--json"]) == 0
    from_npy = json.loads(capsys.readouterr().out)["rows"]
    assert [r["bits/dim"] for r in from_npz] == [r["bits/dim"] for r in from_npy]
    assert main(["compress", str(run), str(tmp_path / "x.npz"), "-o", str(tmp_path / "x.crac")]) == 0
    assert main(["decompress", str(run), str(tmp_path / "x.crac"), "-o", str(tmp_path / "y.npy")]) == 0
    assert np.array_equal(np.load(tmp_path / "y.npy"), x)
    assert main(["complete", str(run), str(tmp_path / "x.npz"), "-n", "2", "-o", str(tmp_path / "c.png")]) == 0
    np.savez(tmp_path / "no-x.npz", y=x)
    assert "named 'x'" in refused(capsys, "score", run, tmp_path / "no-x.npz")


def test_8_and_10_upscale_reads_npz_and_refuses_an_empty_array(tmp_path, capsys):
    args = ["train", "--model", "gated-pixelcnn", "--data", "digits", "--condition", "lowres:2", "--steps", "1"]
    small = ["--set", "channels=4", "--set", "layers=1", "--set", "hidden=8", "--quiet"]
    assert main([*args, *small, "--out", str(tmp_path / "sr")]) == 0
    np.savez(tmp_path / "low.npz", x=np.random.default_rng(0).integers(0, 17, (2, 1, 4, 4)))
    assert (
        main(["upscale", str(tmp_path / "sr"), str(tmp_path / "low.npz"), "-n", "1", "-o", str(tmp_path / "u.png")])
        == 0
    )
    np.save(tmp_path / "empty.npy", np.zeros((0, 1, 4, 4), dtype=np.uint8))
    assert "no examples" in refused(
        capsys, "upscale", tmp_path / "sr", tmp_path / "empty.npy", "-o", tmp_path / "v.png"
    )


# 11. precision on resume


def test_11_resume_refuses_a_conflicting_precision(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--model", "made", "--data", "digits", "--levels", "2", "--set", "hidden=8", "--quiet"]
    assert main([*base, "--steps", "2", "--precision", "fp32", "--out", str(out)]) == 0
    words = refused(capsys, "train", "--resume", "--out", out, "--steps", "4", "--precision", "bf16")
    assert "keeps the precision" in words
    assert cr.serialization.read_json(out / "run.json")["train"]["precision"] == "fp32"


# 12. crafted config.json / run.json


def test_12_crafted_model_and_run_files_are_one_checkpoint_error(tmp_path, capsys):
    out = tmp_path / "run"
    base = ["train", "--model", "made", "--data", "digits", "--levels", "2", "--set", "hidden=8", "--quiet"]
    assert main([*base, "--steps", "2", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text("[" * 100_000 + "]" * 100_000)
    assert "nests too deeply" in refused(capsys, "eval", out)
    config["config"]["seed"] = 2**70
    (out / "config.json").write_text(json.dumps(config))
    assert "2^63" in refused(capsys, "eval", out)
    config["config"]["seed"] = 0
    (out / "config.json").write_text(json.dumps(config))
    good = json.loads((out / "run.json").read_text())
    for change, words in (
        (lambda r: r["data"].pop("levels"), "data.levels"),
        (lambda r: r.update(data="digits"), "'data' must be an object"),
        (lambda r: r.update(train=None), "'train' must be an object"),
        (lambda r: r["train"].update(seed=2**70), "2^63"),
    ):
        crafted = json.loads(json.dumps(good))
        change(crafted)
        (out / "run.json").write_text(json.dumps(crafted))
        assert words in refused(capsys, "train", "--resume", "--out", out, "--steps", "3")


# 13. messages


def test_13_messages_say_what_is_true(image_run, tmp_path, capsys):
    run, model = image_run
    with pytest.raises(CompressedFileError, match=f"reads format {container.VERSION}"):
        cr.coding.decompress(model, b"CRAC" + bytes(40))
    x = torch.randint(0, 256, (2, 1, 6, 6), generator=torch.Generator().manual_seed(1))
    header, payload = container.unpack(cr.coding.compress(model, x))
    garbage = container.pack(header, bytes(len(payload)))  # CRC recomputed over a zeroed payload
    with pytest.raises(CompressedFileError, match="payload was altered"):
        cr.coding.decompress(model, garbage)
    forced = Completion(torch.zeros(1), torch.ones(1), 0, 1, exact=False)
    assert "not the conditional" in summary(forced) and "exact" in summary(
        Completion(torch.zeros(1), torch.ones(1), 0, 1)
    )
    mapped = cr.models.create(
        "gated-pixelcnn", shape=(1, 4, 4), levels=2, map_shape=(1, 2, 2), **cr.models.MODELS.get("gated-pixelcnn").tiny
    )
    with pytest.raises(InputError, match=r"pass cond=Condition\(map=\.\.\.\)"):
        mapped.log_prob(torch.zeros(1, 1, 4, 4, dtype=torch.long))


# 14. file modes


def test_14_written_files_follow_the_umask(image_run, tmp_path):
    run, _ = image_run
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 6, 6), dtype=np.uint8))
    before = os.umask(0o022)
    try:
        assert main(["compress", str(run), str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.crac")]) == 0
        assert main(["decompress", str(run), str(tmp_path / "x.crac"), "-o", str(tmp_path / "y.npy")]) == 0
    finally:
        os.umask(before)
    for name in ("x.crac", "y.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


# 15. a prior's copy of its VQ-VAE


def test_15_a_latent_priors_vqvae_copy_is_checked_wherever_it_is_used(tmp_path, capsys, caplog):
    from tests.models.test_vqvae import train_prior, train_vq

    vq, run = tmp_path / "vq", tmp_path / "prior"
    train_vq(vq, 2)
    train_prior("gated-pixelcnn", f"codes:{vq}", run, 1)
    assert cr.serialization.read_json(run / "run.json")["data"]["decoder"]
    capsys.readouterr()
    assert main(["sample", str(run), "-n", "1", "-o", str(tmp_path / "ok.png")]) == 0
    assert f"decoded by {run / 'vqvae'}, digest checked" in capsys.readouterr().out  # which copy is used
    kept = run / "vqvae" / "model.safetensors"
    original = kept.read_bytes()
    weights = cr.serialization.read_tensors(kept)
    name = sorted(weights)[0]
    weights[name] = weights[name] + 1e-3  # a changed copy that still loads
    cr.serialization.write_tensors(kept, weights)
    assert "not the VQ-VAE" in refused(capsys, "sample", run, "-n", 1, "-o", tmp_path / "s.png")
    assert "not the VQ-VAE" in refused(capsys, "eval", run)
    shutil.rmtree(run / "vqvae" / "model.safetensors", ignore_errors=True)
    kept.unlink(missing_ok=True)
    (run / "vqvae" / "config.json").unlink()
    assert main(["eval", str(run)]) == 0  # the original run, same digest: used, and said
    assert "decoding with the original run" in caplog.text
    weights = cr.serialization.read_tensors(vq / "model.safetensors")
    weights[name] = weights[name] * 2
    cr.serialization.write_tensors(vq / "model.safetensors", weights)
    assert "keeps no VQ-VAE copy" in refused(capsys, "eval", run)
    assert original  # the copy existed before


# defaults sized for the machine


def test_the_default_preset_follows_the_device_and_a_short_run_evaluates_a_spread(tmp_path, capsys):
    from chainrule.train.experiment import resolve_preset

    assert resolve_preset("auto", "cpu") == "cpu" and resolve_preset("auto", "cuda:0") == "paper"
    assert resolve_preset("none") is None and resolve_preset("paper") == "paper"
    out = tmp_path / "run"
    capsys.readouterr()
    argv = ["train", "--model", "pixelcnn", "--data", "digits", "--steps", "1", "--train-set", "eval_examples=100"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "preset cpu" in printed and "tested on 100 of the 359" in printed
    info = cr.serialization.read_json(out / "run.json")
    assert info["preset"] == "cpu" and info["model"]["config"]["channels"] == 32  # the cpu preset's width
    results = cr.serialization.read_json(out / "results.json")
    assert results["test_examples"] == 100 and results["test_examples_of"] == 359


def test_a_preset_sized_for_binary_data_shrinks_at_many_levels():
    from chainrule.models import preset_hparams

    assert preset_hparams("made", "cpu", (1, 28, 28), 2)["hidden"] == (1000, 1000)
    assert preset_hparams("made", "cpu", (1, 28, 28), 256)["hidden"] == (128,)


def test_eval_limits_follow_the_budget():
    from chainrule.train.config import TrainConfig

    assert TrainConfig(steps=3, batch_size=32).eval_limit(10_000) == 500
    assert TrainConfig(steps=3, batch_size=32, eval_examples=0).eval_limit(10_000) == 10_000
    assert TrainConfig(minutes=1).eval_limit(10_000) == 10_000
    assert TrainConfig(steps=1000, batch_size=64).eval_limit(10_000) == 10_000
    with pytest.raises(ConfigError):
        TrainConfig(seed=2**70)
