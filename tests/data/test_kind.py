"""The data kind: one typed record of what a dataset's or a model's values are."""

import pytest
import torch

import chainrule as cr
from chainrule.data import DataKind
from chainrule.data.sources import load_run_data, run_spec, spec_kind_name
from chainrule.errors import ConfigError
from chainrule.models import MODELS


def test_kinds_carry_their_facts_and_refuse_the_others():
    text = DataKind.text(256, "")
    assert text.is_text and text.vocabulary.is_bytes and text.unit == "char"
    assert DataKind.from_dict(text.describe()) == text
    audio = DataKind.audio(256, "mulaw", 8000)
    assert audio.is_audio and DataKind.from_dict(audio.describe()) == audio and audio.unit == "sample"
    assert DataKind.image(2).describe() == {"name": "image", "levels": 2}
    with pytest.raises(ConfigError):
        DataKind("image", 256, vocab="")  # a vocabulary goes with text only
    with pytest.raises(ConfigError):
        DataKind("audio", 256, encoding="mulaw")  # no rate
    with pytest.raises(ConfigError):
        DataKind("smell", 256)  # no such kind
    with pytest.raises(ConfigError):
        DataKind.from_dict({"name": "image", "levels": 2, "colour": True})
    with pytest.raises(ConfigError, match="no vocabulary"):
        _ = DataKind.image(256).vocabulary


def test_every_model_reports_its_kind():
    expected = {"image": "image", "sequence": "text", "video": "video"}
    for name in cr.models.available():
        entry = MODELS.get(name)
        shapes = {"image": (1, 4, 4), "any": (1, 4, 4), "latent": (1, 4, 4), "video": (2, 1, 3, 3)}
        shape = shapes.get(entry.kind, (8,))
        extra = {"vocab": ""} if "vocab" in cr.config.field_names(entry.config) else {}
        model = cr.models.create(name, shape=shape, levels=256, **{**entry.tiny, **extra})
        want = "audio" if name == "wavenet" else expected.get(entry.kind, "image")
        assert model.data_kind.name == want, name
        assert model.data_kind.levels == 256
    plain = cr.models.create("made", shape=(6,), levels=3, hidden=(8,))
    assert plain.data_kind == DataKind.values(3)
    prior = cr.models.create("pixelsnail", shape=(1, 4, 4), levels=9, embed=4, **MODELS.get("pixelsnail").tiny)
    assert prior.data_kind == DataKind.codes(9) and prior.data_kind.unit == "code"


def test_datasets_carry_their_kind_and_runs_record_it(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question " * 40)
    splits = cr.data.load_splits(str(text), length=16)
    assert splits["train"].kind == DataKind.text(256, "")
    spec = run_spec(splits["train"])
    assert spec["kind"] == {"name": "text", "levels": 256, "vocab": ""} and spec_kind_name(spec) == "text"
    again = load_run_data(spec)["test"]
    assert torch.equal(again.tokens, splits["test"].tokens)
    old = {k: v for k, v in spec.items() if k != "kind"}  # a run written before the kind was recorded
    assert spec_kind_name(old) == "text" and torch.equal(load_run_data(old)["test"].tokens, again.tokens)
    images = cr.data.load_splits("digits", levels=2)
    assert images["train"].kind == DataKind.image(2) and spec_kind_name(run_spec(images["train"])) == "image"


def test_the_video_kind_round_trips_through_its_json_form():
    kind = DataKind.video(256)
    assert kind.is_video and not kind.is_image and kind.unit == "dim"
    assert DataKind.from_dict(kind.describe()) == kind
