"""`train --mirror`: the training split gains each image's mirror image, validation and test do not, the run
records it and a resumed run or a reader of the run's data gets the same split back."""

from __future__ import annotations

import json

import pytest
import torch

import chainrule as cr
from chainrule.cli.main import main
from chainrule.data import moving_mnist
from chainrule.data.augment import mirror_train
from chainrule.data.sources import load_run_data
from chainrule.errors import ConfigError


def test_the_training_split_gains_each_images_mirror_and_the_others_stay():
    splits = cr.data.load_splits("digits")
    mirrored = mirror_train(splits)
    train, n = mirrored["train"], len(splits["train"])
    assert len(train) == 2 * n and train.mirrored and not splits["train"].mirrored
    assert torch.equal(train.x[:n], splits["train"].x)
    assert torch.equal(train.x[n:], splits["train"].x.flip(-1))
    assert not torch.equal(train.x[n:], train.x[:n])  # digits are not symmetric: the copies are new examples
    assert torch.equal(train.labels, splits["train"].labels.repeat(2))
    for split in ("val", "test"):
        assert mirrored[split] is splits[split]
    assert mirror_train(mirrored)["train"] is train  # once is enough


def test_a_conditioning_image_is_mirrored_with_its_image():
    splits = mirror_train(cr.data.load_splits("digits", condition="lowres:2"))
    train = splits["train"]
    n = len(train) // 2
    assert torch.equal(train.maps[n:], train.maps[:n].flip(-1))


def test_text_and_video_are_refused(tmp_path):
    text = tmp_path / "words.txt"
    text.write_text("a few words of text for a tiny split " * 40)
    with pytest.raises(ConfigError, match="--mirror applies to images"):
        mirror_train(cr.data.load_splits(str(text), length=16))
    videos = cr.data.load_splits("moving-mnist", levels=2, video={"frames": 2, "size": 28, "digits": 1})
    with pytest.raises(ConfigError, match="--mirror applies to images"):
        mirror_train(videos)
    with pytest.raises(ConfigError, match="fixed set of images, not to single frames"):  # what a VQ-VAE of video learns
        mirror_train(moving_mnist.frame_splits(videos))


def test_a_mirrored_run_records_it_and_resumes_on_the_same_split(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--model", "made", "--data", "digits", "--levels", "2", "--steps", "2", "--quiet"]
    assert main([*args, "--mirror", "--out", str(out)]) == 0
    spec = json.loads((out / "run.json").read_text())["data"]
    assert spec["mirror"] is True
    again = load_run_data(spec)
    assert len(again["train"]) == 2 * len(cr.data.load_splits("digits")["train"])
    assert main(["train", "--resume", "--out", str(out), "--steps", "3", "--quiet"]) == 0
    plain = tmp_path / "plain"
    assert main([*args, "--out", str(plain)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--mirror", "--out", str(plain), "--steps", "3", "--quiet"]) != 0
    assert "trained without --mirror" in capsys.readouterr().err
