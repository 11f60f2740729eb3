import math

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import lossless, serialization
from chainrule.cli.main import main
from chainrule.errors import ConfigError, InputError
from chainrule.scoring import auprc, auroc, fpr_at_tpr, separation


def image_model(seed=0, levels=16):
    torch.manual_seed(seed)
    return cr.models.create("pixelcnn", shape=(1, 6, 6), levels=levels, channels=6, blocks=1, hidden=12).eval()


def images(n=5, levels=16, seed=1):
    return torch.randint(0, levels, (n, 1, 6, 6), generator=torch.Generator().manual_seed(seed))


def test_the_likelihood_score_is_bits_per_dimension_from_log_prob():
    model, x = image_model(), images()
    with torch.no_grad():
        expected = -model.log_prob(x) / (36 * math.log(2))
    torch.testing.assert_close(cr.score(model, x), expected)
    torch.testing.assert_close(cr.score(model, x, batch_size=2), expected)


def test_a_model_as_its_own_background_scores_zero_and_another_does_not():
    model, x = image_model(), images()
    assert torch.equal(cr.score(model, x, method="ratio", background=model), torch.zeros(5))
    other = image_model(seed=3)
    ratio = cr.score(model, x, method="ratio", background=other)
    torch.testing.assert_close(ratio, cr.score(model, x) - cr.score(other, x))
    assert ratio.abs().max() > 0


def test_complexity_subtracts_the_png_bits():
    model, x = image_model(), images()
    png = torch.tensor([8 * lossless.png(im.numpy().astype(np.uint8)) / 36 for im in x])
    torch.testing.assert_close(cr.score(model, x, method="complexity", codec="png"), cr.score(model, x) - png)
    bits, name = cr.scoring.complexity_bits(model, x, codec="png")
    assert name.startswith("PNG") and bits.shape == (5,)


def test_complexity_defaults_to_jpeg_xl_where_installed(monkeypatch):
    model, x = image_model(), images()
    monkeypatch.setattr(lossless, "installed", lambda name: False)
    assert cr.scoring.complexity_bits(model, x)[1].startswith("PNG")
    monkeypatch.setattr(lossless, "installed", lambda name: True)
    calls = []
    monkeypatch.setitem(cr.scoring.scores.IMAGE_CODECS, "jpegxl", lambda im: calls.append(im.shape) or 10)
    bits, name = cr.scoring.complexity_bits(model, x)
    assert name.startswith("JPEG XL") and len(calls) == 5
    torch.testing.assert_close(bits, torch.full((5,), 80 / 36))


def test_typicality_scores_batches_against_the_validation_entropy():
    model, x = image_model(), images(n=5)
    bpd = cr.score(model, x).double()
    scores = cr.score(model, x, method="typicality", batch=2, reference=3.0)
    expected = [abs(float(bpd[a:b].mean()) - 3.0) for a, b in ((0, 2), (2, 4), (4, 5))]
    torch.testing.assert_close(scores, torch.tensor(expected, dtype=torch.float32))
    with pytest.raises(ConfigError, match="batch"):
        cr.score(model, x, method="typicality")


def test_text_models_score_streams():
    torch.manual_seed(0)
    model = cr.models.create("char-rnn", shape=(16,), levels=256, vocab="", hidden=8, layers=1).eval()
    texts = [torch.tensor(list(b"hello hello hello")), torch.tensor(list(b"\x00\xff\x10\x80" * 4))]
    with torch.no_grad():
        expected = [float(-model.stream_log_probs(t).sum() / (len(t) * math.log(2))) for t in texts]
    torch.testing.assert_close(cr.score(model, texts), torch.tensor(expected))
    bits, name = cr.scoring.complexity_bits(model, texts)
    assert name == "bzip2 -9" and bits.shape == (2,)


def test_bad_inputs_are_refused():
    model = image_model()
    with pytest.raises(InputError, match="shape"):
        cr.score(model, torch.zeros(2, 1, 5, 5, dtype=torch.long))
    with pytest.raises(InputError, match="values"):
        cr.score(model, torch.full((2, 1, 6, 6), 16))
    with pytest.raises(InputError, match="background"):
        cr.score(model, images(), method="ratio")
    wider = cr.models.create("pixelcnn", shape=(1, 6, 6), levels=256, channels=6, blocks=1, hidden=12)
    with pytest.raises(InputError, match="background"):
        cr.score(model, images(), method="ratio", background=wider)
    with pytest.raises(ConfigError, match="method"):
        cr.score(model, images(), method="entropy")


def test_separation_metrics_against_hand_computed_values():
    inside, outside = [0.1, 0.4, 0.35], [0.8, 0.4]
    # pairs (outside > inside): 0.8 beats all three; 0.4 beats 0.1 and 0.35 and ties 0.4 → (3 + 2.5) / 6
    assert auroc(inside, outside) == pytest.approx(5.5 / 6)
    assert auroc(outside, inside) == pytest.approx(0.5 / 6)
    # precision at each positive: 0.8 → 1/1; 0.4 → 2 of the 3 scoring ≥ 0.4
    assert auprc(inside, outside) == pytest.approx((1 + 2 / 3) / 2)
    # 95 % of the outside scores means both: threshold 0.4, which flags one inside score of three
    assert fpr_at_tpr(inside, outside) == pytest.approx(1 / 3)
    assert auroc([0, 0], [1, 1]) == 1.0 and fpr_at_tpr([0, 0], [1, 1]) == 0.0


def test_the_ood_benchmark_reports_every_method_for_every_pair(tmp_path):
    from chainrule.bench import ood

    model = image_model(levels=256)
    model.save(tmp_path / "m")
    inside = torch.randint(100, 140, (6, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    sets = {"in": inside, "noise": torch.randint(0, 256, (6, 1, 6, 6)), "flat": torch.zeros(6, 1, 6, 6).long()}
    rows = ood.evaluate(str(tmp_path / "m"), sets, background=str(tmp_path / "m"), batch=2)
    assert {(r["out"], r["method"]) for r in rows} == {
        (out, m) for out in ("noise", "flat") for m in ("likelihood", "complexity", "ratio")
    }  # no typicality without a recorded validation figure
    ratio = [r for r in rows if r["method"] == "ratio"]
    assert all(r["auroc"] == 0.5 and r["outside_mean"] == 0 for r in ratio)  # its own background: all ties
    assert all(0 <= r["auroc"] <= 1 and 0 <= r["fpr95"] <= 1 for r in rows)


def test_the_background_grid_trains_alike_chooses_on_letters_and_reports_the_test_pair_after(tmp_path):
    from chainrule.bench import ood

    if len(cr.data.letters.font_files()) < 3:
        pytest.skip("letters needs fonts")
    foreground = tmp_path / "fg"
    train = {"steps": 2, "batch_size": 8, "eval_examples": 50}
    cr.train.train_model(
        "pixelcnn++",
        "fashion-mnist",
        foreground,
        levels=256,
        preset="ren",
        hparams={"channels": 4, "resnets": 1},
        train=train,
        progress=False,
    )
    lines = []
    result = ood.choose(
        str(foreground),
        tmp_path / "grid",
        {"steps": 2},
        limit=20,
        l2s=(0.0, 100.0),
        mus=(0.1,),
        progress=False,
        report=lines.append,
        test_limit=20,
        jobs=2,  # the two backgrounds in worker processes
    )
    runs = [tmp_path / "grid" / ood.grid_name(0.1, l2) for l2 in (0.0, 100.0)]
    for run, l2 in zip(runs, (0.0, 100.0), strict=True):
        info = serialization.read_json(run / "run.json")
        assert info["train"]["perturb"] == 0.1 and info["train"]["l2"] == l2
        assert info["model"] == serialization.read_json(foreground / "run.json")["model"]  # the same family and size
        assert info["train"]["batch_size"] == 8 and info["train"]["steps"] == 2
    choice = serialization.read_json(tmp_path / "grid" / "choice.json")
    best = max(choice["grid"], key=lambda r: r["auroc"])
    assert result["chosen"] == choice["chosen"]["run"] == best["run"]
    assert [r["run"] for r in result["test"]][0] == best["run"] and len(result["test"]) == 2
    # the choice is reported before the test pair is looked at
    chosen_at = next(i for i, line in enumerate(lines) if line.startswith("chosen:"))
    assert chosen_at < next(i for i, line in enumerate(lines) if "test AUROC" in line)
    # a finished grid point is kept when the grid runs again
    stamp = (runs[0] / "model.safetensors").stat().st_mtime_ns
    ood.choose(
        str(foreground),
        tmp_path / "grid",
        {"steps": 2},
        limit=20,
        l2s=(0.0,),
        mus=(0.1,),
        progress=False,
        report=lambda _: None,
        test_limit=10,
    )
    assert (runs[0] / "model.safetensors").stat().st_mtime_ns == stamp
    # other budgets train the chosen point again, after the choice, and the budget is picked on validation
    lines = []
    result = ood.choose(
        str(foreground),
        tmp_path / "grid",
        {"steps": 2},
        limit=20,
        l2s=(0.0,),
        mus=(0.1,),
        progress=False,
        report=lines.append,
        test_limit=10,
        finals=({"steps": 3}, {"steps": 1}),
        grid_test_limit=6,
    )
    again = [tmp_path / "grid" / (ood.grid_name(0.1, 0.0) + f"-steps{n}") for n in (3, 1)]
    assert [serialization.read_json(r / "run.json")["train"]["steps"] for r in again] == [3, 1]
    choice = serialization.read_json(tmp_path / "grid" / "choice.json")
    candidates = [choice["chosen"], *choice["finals"]]
    assert [c["run"] for c in candidates] == [str(runs[0]), *map(str, again)]
    picked = max(candidates, key=lambda c: c["auroc"])  # the first of equals: the grid's own budget
    assert result["chosen"] == choice["picked"]["run"] == picked["run"]
    heads = result["test"][:3]
    assert heads[0]["run"] == picked["run"] and {h["run"] for h in heads} == {c["run"] for c in candidates}
    assert all(h["pair"] == [10, 10] for h in heads)
    assert [(r["run"], r["pair"]) for r in result["test"][3:]] == [(str(runs[0]), [6, 6])]  # the grid, on fewer
    again_at = next(i for i, line in enumerate(lines) if line.startswith("again:"))
    assert next(i for i, line in enumerate(lines) if line.startswith("chosen:")) < again_at
    picked_at = next(i for i, line in enumerate(lines) if line.startswith("picked on validation:"))
    assert again_at < picked_at < next(i for i, line in enumerate(lines) if "test AUROC" in line)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--steps", "0"], "--steps must be ≥ 1"),
        (["--final-steps", "200", "0"], "--final-steps must be ≥ 1"),
        (["--grid-test-limit", "0"], "--grid-test-limit must be ≥ 1"),
        (["--jobs", "0"], "--jobs must be ≥ 1"),
    ],
)
def test_the_background_grid_refuses_bad_budgets_with_one_line(options, message, capsys):
    assert main(["bench", "ood", "--choose", "--images", "zoo:pixelcnnpp-fashion-mnist-ratio", *options]) != 0
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_the_zoo_ratio_pair_scores_offline_and_flags_digits(tmp_path, capsys):
    """The chosen pair ships in the zoo: `score --method ratio --background` runs on it and ranks MNIST digits as
    more unusual than clothes (the raw likelihood ranks them the other way: issue 23's AUROC 0.062)."""
    clothes = cr.data.load_splits("fashion-mnist")["test"].x[:16]
    digits = cr.data.load_splits("mnist-5k")["test"].x[:16]
    path = tmp_path / "mixed.npy"
    np.save(path, torch.cat([clothes, digits]).numpy().astype(np.uint8))
    args = ["score", "zoo:pixelcnnpp-fashion-mnist-ratio", str(path), "--method", "ratio"]
    assert main([*args, "--background", "zoo:pixelcnnpp-fashion-mnist-ratio-background"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith(str(path) + "[")]
    assert len(rows) == 32
    bits, ratio = (np.array([float(r[k]) for r in rows]) for k in (2, 3))
    assert separation(bits[:16], bits[16:])["auroc"] < 0.3  # the likelihood alone fails
    assert separation(ratio[:16], ratio[16:])["auroc"] > 0.85
