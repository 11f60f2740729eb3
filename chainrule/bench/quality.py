"""Quality benchmark: test NLL after a fixed training budget on named datasets, next to the
independent-pixel baseline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainrule.data import load_splits
from chainrule.models import load
from chainrule.train import train_model
from chainrule.train.baseline import independent_nll
from chainrule.train.evaluate import evaluate


@dataclass(frozen=True)
class QualityCase:
    model: str
    data: str
    levels: int | None
    preset: str
    minutes: float
    binarize: str | None = None
    hparams: dict[str, Any] = field(default_factory=dict)
    vocab: str | None = None  # text: "bytes" or "chars"
    length: int | None = None  # text: tokens per chunk; audio: crop length
    encoding: str | None = None  # audio


CASES = {
    "made-fashion-mnist": QualityCase("made", "fashion-mnist", 2, "cpu", 30.0, "threshold"),
    "made-mnist-5k": QualityCase("made", "mnist-5k", 2, "cpu", 5.0, "threshold"),
    "made-digits": QualityCase("made", "digits", 2, "cpu", 2.0, "threshold"),
}
IMAGE_MODELS = ("made", "pixelcnn", "gated-pixelcnn", "row-lstm", "diagonal-bilstm")
for _model in IMAGE_MODELS:  # the image-model comparison at equal budget (cpu presets, 20 minutes)
    CASES[f"{_model}-fashion-mnist-binary-20m"] = QualityCase(_model, "fashion-mnist", 2, "cpu", 20.0, "threshold")
    CASES[f"{_model}-fashion-mnist-256-20m"] = QualityCase(_model, "fashion-mnist", 256, "cpu", 20.0)
    if _model != "made":
        CASES[f"{_model}-photos32-20m"] = QualityCase(_model, "photos32", 256, "cpu", 20.0)
# MADE's cpu preset (1000-1000 hidden, direct connections) is sized for binary data: at 256 levels its output layer
# alone would hold 784 x 256 x 1000 weights, so the 256-level comparison uses one 500-unit layer, no direct path.
CASES["made-fashion-mnist-256-20m"] = QualityCase(
    "made", "fashion-mnist", 256, "cpu", 20.0, hparams={"hidden": (500,), "direct": False}
)
# Image models II: PixelCNN++ and PixelSNAIL at the same budget, and the dequantization study (the same PixelCNN++
# trained on the continuous density of uniformly dequantized data).
for _model in ("pixelcnn++", "pixelsnail"):
    CASES[f"{_model}-fashion-mnist-256-20m"] = QualityCase(_model, "fashion-mnist", 256, "cpu", 20.0)
CASES["pixelcnn++-fashion-mnist-256-dequantized-20m"] = QualityCase(
    "pixelcnn++", "fashion-mnist", 256, "cpu", 20.0, hparams={"objective": "dequantized"}
)
# Text: bits per character on the Shakespeare test split (Hamlet, Tempest, Twelfth Night), byte vocabulary.
for _model in ("char-rnn", "transformer"):
    CASES[f"{_model}-shakespeare-20m"] = QualityCase(_model, "shakespeare", None, "cpu", 20.0, vocab="bytes")
# Audio: bits per sample on the speech test split (8 kHz mu-law).
CASES["wavenet-speech-20m"] = QualityCase("wavenet", "speech", None, "cpu", 20.0, length=4096, encoding="mulaw")
# Class-conditional Gated PixelCNN (label embedding); compare with gated-pixelcnn-fashion-mnist-256-20m.
CASES["gated-pixelcnn-fashion-mnist-256-class-20m"] = QualityCase(
    "gated-pixelcnn", "fashion-mnist", 256, "cpu", 20.0, hparams={"num_classes": 10}
)


def run_case(name: str, out_root: Path, minutes: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Train one case into `out_root/name` and return its figures."""
    case = CASES[name]
    out = out_root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    budget = minutes if minutes is not None else case.minutes
    results = train_model(
        case.model,
        case.data,
        out,
        levels=case.levels,
        binarize=case.binarize,
        preset=case.preset,
        hparams=case.hparams,
        train={"minutes": budget},
        progress=progress,
        vocab=case.vocab,
        length=case.length,
        encoding=case.encoding,
    )
    splits = load_splits(case.data, case.levels, case.binarize, case.vocab, case.length, case.encoding)
    baseline = independent_nll(splits["train"], splits["test"])
    row = {"case": name, "budget_minutes": budget, "baseline_nats": baseline["nats"], **results}
    if case.hparams.get("objective") == "dequantized":  # the bound the continuous model was trained on
        row["test_dequantized_bpd"] = evaluate(load(results["run"]), splits["test"], dequantized=True)["bpd"]
    return row
