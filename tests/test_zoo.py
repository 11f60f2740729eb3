"""The bundled model zoo: every entry loads offline, samples, and scores a slice of its own test split close to the
test NLL its manifest records (the manifest measured the full split; 100 examples spread over it land within 15 %,
and an untrained model would be 50-100 % off)."""

import math

import pytest
import torch

import chainrule as cr
from chainrule import zoo
from chainrule.cli.common import run_data
from chainrule.errors import DatasetNotFoundError

NAMES = sorted(zoo.entries())


def test_the_zoo_holds_the_issue_s_models_within_20_mb():
    families = {entry["family"] for entry in zoo.entries().values()}
    assert {"gated-pixelcnn", "made", "char-rnn", "wavenet"} <= families
    size = sum(f.stat().st_size for f in zoo.ZOO_DIR.rglob("*") if f.is_file())
    assert size <= 20 * 10**6
    for entry in zoo.entries().values():
        assert entry["command"].startswith("chainrule ") and entry["train_seconds"] > 0 and entry["test_bpd"] > 0


@pytest.mark.parametrize("name", NAMES)
def test_a_zoo_model_samples_and_scores_its_test_data_as_recorded(name):
    directory = zoo.resolve(f"{zoo.PREFIX}{name}")
    model = cr.load(directory)
    try:
        ds = run_data(directory, "test")
    except DatasetNotFoundError as err:
        pytest.skip(f"{name}: its data is not installed ({err})")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        if ds.is_stream:
            tokens = ds.tokens[:16000]
            bits = -float(model.stream_log_probs(tokens).double().sum()) / math.log(2) / len(tokens)
            drawn = cr.sampling.generate(model, tokens[:16], 32, generator=gen)
            assert drawn.shape == (32,) and int(drawn.max()) < model.levels
        elif model.data_kind.is_video:  # 20 frames of 64x64: 10 test videos, the last frame drawn given the others
            pick = torch.linspace(0, len(ds) - 1, 10).long()
            x, _ = ds.batch(pick)  # grey values read as probabilities for a soft run: its evaluation's own sums
            bits = model.evaluation_sums(x, None)["nats"] / math.log(2) / x.numel()
            known = ds.x[:1].clone()
            known[:, -1] = -1
            drawn = model.sample(1, known=known, generator=gen)
            assert torch.equal(drawn[:, :-1], known[:, :-1]) and int(drawn.max()) < model.levels
        else:
            pick = torch.linspace(0, len(ds) - 1, min(100, len(ds))).long()  # spread over the split
            x, labels = ds.batch(pick)
            cond = ds.condition(pick, labels, bool(model.num_classes), bool(model.map_shape))  # e.g. a low-res map
            bits = -float(model.log_prob(x, cond).double().sum()) / math.log(2) / x.numel()
            drawn = model.sample(1, cond=None if cond is None else cond[:1], generator=gen)
            assert drawn.shape == (1, *model.shape) and int(drawn.max()) < model.levels
    recorded = zoo.entries()[name]["test_bpd"]
    assert abs(bits - recorded) < 0.15 * recorded, (bits, recorded)
