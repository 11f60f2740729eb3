"""Anomaly and out-of-distribution scores from an exact likelihood, oriented so that higher means more unusual.

- likelihood: bits per dimension, −log2 p(x) / D. Known to fail as a judge (Nalisnick et al. 2019, arXiv
  1810.09136: a model of Fashion-MNIST gives MNIST digits higher likelihood).
- ratio: bits per dimension under the model minus under a background model of the same family trained on inputs
  with random values put in (`chainrule train ... --perturb MU`; Ren et al. 2019, arXiv 1906.02845): what the
  background model explains too (the population-level statistics) cancels. A model as its own background scores 0.
- complexity: (−log2 p(x) − L(x)) / D with L(x) the bits a generic lossless compressor needs (Serrà et al. 2020,
  arXiv 1909.11480): JPEG XL lossless for images where `cjxl` is installed, else PNG (`codec=` picks one), bzip2
  for text and audio.
- typicality: for batches of M inputs, |mean bits per dimension − Ĥ| with Ĥ the model's entropy rate estimated on
  validation data (Nalisnick et al. 2019, arXiv 1906.02994): one score per batch.

Inputs: a long tensor (N, *shape) for array data (images, plain values), or a list of 1-D token tensors (one per
text file or recording) for a text or audio model.
"""

from __future__ import annotations

import bz2
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from chainrule import lossless, serialization, zoo
from chainrule.errors import ConfigError, InputError
from chainrule.sampling.completion import completion_groups, needs_particles, walked_in

METHODS = ("likelihood", "ratio", "complexity", "typicality")
IMAGE_CODECS = {"png": lossless.png, "jpegxl": lossless.jpegxl}

Inputs = Tensor | Sequence[Tensor]


def is_stream(model) -> bool:
    """Text and audio models score whole token streams; the others arrays of examples."""
    return model.data_kind.is_text or model.data_kind.is_audio


@torch.inference_mode()
def dimension_bits(model, x: Inputs, cond: Tensor | None = None, batch_size: int = 64, progress: bool = False):
    """−log2 p of every dimension: (N, *shape) for arrays, a list of (T,) tensors for streams.

    Raises:
        InputError: inputs that cannot be scored (`check_inputs`)."""
    check_inputs(model, x)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        if is_stream(model):
            items = tqdm(x, desc="scoring", unit="input", disable=not progress)
            return [-model.stream_log_probs(t.to(device)).cpu() / math.log(2) for t in items]
        x = model.check_input(x, cond)
        out = []
        for start in tqdm(range(0, len(x), batch_size), desc="scoring", unit="batch", disable=not progress):
            part = x[start : start + batch_size].to(device)
            c = None if cond is None else cond[start : start + batch_size].to(device)
            out.append(-model.log_prob(part, c, reduction="none").cpu() / math.log(2))
        return torch.cat(out) if out else torch.zeros(0, *model.shape)
    finally:
        model.train(was_training)


def per_input(bits: Tensor | list[Tensor]) -> Tensor:
    """`dimension_bits` averaged over each input's dimensions: float (N,)."""
    if isinstance(bits, list):
        return torch.tensor([float(b.double().mean()) if len(b) else math.nan for b in bits])
    return bits.flatten(1).double().mean(1).float() if bits.numel() else torch.zeros(0)


def bits_per_dim(model, x: Inputs, cond: Tensor | None = None, batch_size: int = 64, progress: bool = False) -> Tensor:
    """−log2 p(x) / D for each input: float (N,)."""
    return per_input(dimension_bits(model, x, cond, batch_size, progress))


def validation_bits(run_dir: str | Path) -> float | None:
    """The best validation bits/dim a run recorded (typicality's Ĥ); None for a directory without results."""
    path = zoo.resolve(run_dir) / "results.json"
    return float(serialization.read_json(path)["best_val_bpd"]) if path.is_file() else None


def complexity_bits(model, x: Inputs, codec: str | None = None) -> tuple[Tensor, str]:
    """L(x) in bits per dimension under a generic lossless compressor, and the compressor's name."""
    kind = model.data_kind
    if is_stream(model):
        if codec not in (None, "bzip2"):
            raise ConfigError(f"codec={codec!r}: text and audio use bzip2")
        sizes = [8 * len(bz2.compress(_stream_bytes(model, t), 9)) / max(1, len(t)) for t in x]
        return torch.tensor(sizes), "bzip2 -9"
    if not kind.is_image or model.levels > 256:
        if codec not in (None, "bzip2"):
            raise ConfigError(f"codec={codec!r}: {kind.name} data uses bzip2")
        values = x.numpy().astype(np.uint16 if model.levels > 256 else np.uint8)
        sizes = [8 * len(bz2.compress(v.tobytes(), 9)) / v.size for v in values]
        return torch.tensor(sizes), "bzip2 -9"
    name = codec or default_image_codec()
    if name not in IMAGE_CODECS:
        raise ConfigError(f"codec={name!r}; images use one of {', '.join(IMAGE_CODECS)}")
    images = x.numpy().astype(np.uint8)
    try:
        sizes = [8 * IMAGE_CODECS[name](image) / image.size for image in images]
    except lossless.Missing as err:
        raise ConfigError(str(err)) from None
    return torch.tensor(sizes), {"png": "PNG (optimize)", "jpegxl": "JPEG XL lossless (cjxl -d 0 -e 9)"}[name]


def default_image_codec() -> str:
    """JPEG XL (the stronger lossless image coder, as Serrà et al. prefer) when cjxl and djxl are installed, else
    PNG."""
    return "jpegxl" if lossless.installed("cjxl") and lossless.installed("djxl") else "png"


def _stream_bytes(model, tokens: Tensor) -> bytes:
    kind = model.data_kind
    if kind.is_text and kind.vocab != "":
        return kind.vocabulary.decode(tokens).encode("utf-8")  # characters: the compressor sees the UTF-8 text
    return bytes(tokens.tolist()) if model.levels <= 256 else tokens.numpy().astype(np.uint16).tobytes()


def check_inputs(model, x: Inputs) -> None:
    """Refuse what cannot be scored: no inputs at all, an empty text or recording, tokens outside the model's
    levels (arrays are checked by `model.check_input`).

    Raises:
        InputError: naming what is wrong."""
    if is_stream(model):
        if isinstance(x, Tensor) or not isinstance(x, Sequence) or not len(x):
            raise InputError("give one or more 1-D token tensors to score (a list, one per text or recording)")
        for i, tokens in enumerate(x):
            if not isinstance(tokens, Tensor) or tokens.dim() != 1 or tokens.dtype.is_floating_point:
                raise InputError(f"input {i} must be a 1-D integer tensor of tokens")
            if not len(tokens):
                raise InputError(f"input {i} is empty: nothing to score")
            if int(tokens.min()) < 0 or int(tokens.max()) >= model.levels:
                raise InputError(
                    f"input {i} has tokens {int(tokens.min())}..{int(tokens.max())}; this model takes "
                    f"0..{model.levels - 1}"
                )
    elif not isinstance(x, Tensor) or x.dim() == 0 or not len(x):
        raise InputError("no inputs to score: give at least one example (N ≥ 1, *shape)")


def check_background(model, background) -> None:
    """The background model must model the same data the same way."""
    if background is None:
        raise InputError("the ratio method needs a background model (background=..., --background RUN)")
    if background.data_kind != model.data_kind or tuple(background.shape) != tuple(model.shape):
        raise InputError(
            f"the background model holds {background.data_kind.name} {tuple(background.shape)} at "
            f"{background.levels} levels; the model {model.data_kind.name} {tuple(model.shape)} at {model.levels}"
        )


def score(model, x: Inputs, method: str = "likelihood", known: Tensor | None = None, **options) -> Tensor:
    """Per-input scores, higher = more unusual: float (N,), or (⌈N / batch⌉,) for `typicality`. The options are
    `scores_and_bits`'s (background, cond, batch, reference, codec, batch_size, progress, bpd).

    known: a bool mask (N, *shape) or (*shape), True where a value is given: the score is then the bits per hidden
    value of x's hidden values given the known ones, −log2 p(x_hidden | x_known) / (hidden values), exact
    (`hidden_bits`; likelihood only)."""
    if known is not None:
        if method != "likelihood":
            raise ConfigError("a known mask scores the hidden values by their likelihood: method likelihood")
        nats, hidden = hidden_bits(model, x, known, options.get("cond"), options.get("batch_size", 64))
        return nats / (hidden * math.log(2))
    return scores_and_bits(model, x, method, **options)[0]


@torch.inference_mode()
def hidden_bits(
    model, x: Tensor, known: Tensor, cond: Tensor | None = None, batch_size: int = 64
) -> tuple[Tensor, Tensor]:
    """−log p(x_hidden | x_known) in nats and the number of hidden values, (N,) each, exactly: summed
    conditionals of the hidden values along an order in which every known value comes first. An any-order model
    (lmconv) is walked in such an order for any mask (`orders.known_first`, as completion does); another model only
    where its own order already puts the known values first (e.g. bottom hidden in raster order).

    Raises:
        InputError: a mask that does not fit x, nothing hidden in an example, or known values after hidden ones
            in a model of one order."""
    x = model.check_input(x, cond)
    if not isinstance(known, Tensor) or known.dtype != torch.bool:
        raise InputError("known must be a bool mask (True where a value is given)")
    known = known.to(x.device).expand_as(x) if known.shape != x.shape else known.to(x.device)
    hidden = (~known).flatten(1).sum(1)
    if bool((hidden == 0).any()):
        raise InputError("every example needs a hidden value to score")
    partial = torch.where(known, x, torch.full_like(x, -1))
    nats = torch.zeros(len(x), dtype=torch.float64)
    was_training = model.training
    model.eval()
    try:
        for rows, order in completion_groups(model, partial):
            with walked_in(model, order):
                if needs_particles(model, partial[rows.to(x.device)]):
                    raise InputError(
                        f"known values follow hidden ones in this {model.registry_name} model's order, so "
                        "p(hidden | known) has no exact form here; an any-order model (lmconv) scores any region"
                    )
                for start in range(0, len(rows), batch_size):
                    part = rows[start : start + batch_size].to(x.device)
                    per_dim = model.log_prob(x[part], None if cond is None else cond[part.tolist()], reduction="none")
                    nats[part.cpu()] = -(per_dim.double() * (~known[part])).flatten(1).sum(1).cpu()
    finally:
        model.train(was_training)
    return nats, hidden.cpu()


def scores_and_bits(
    model,
    x: Inputs,
    method: str = "likelihood",
    background=None,
    cond: Tensor | None = None,
    batch: int | None = None,
    reference: float | None = None,
    codec: str | None = None,
    batch_size: int = 64,
    progress: bool = False,
    bpd: Tensor | None = None,
) -> tuple[Tensor, Tensor, str | None]:
    """`score`'s scores, the per-input bits per dimension under the model (N,), and the compressor the complexity
    method used (None for the others): what `chainrule score` reports.

    Args:
        model: a trained model (`cr.load`).
        x: long (N, *shape) examples, or a list of 1-D token tensors for a text or audio model.
        method: likelihood, ratio, complexity or typicality (see the module docstring).
        background: the ratio method's background model.
        cond: optional conditioning, as for `log_prob`.
        batch: typicality: inputs per batch M (consecutive; the last batch may be smaller).
        reference: typicality: Ĥ, the validation bits per dimension (a run's `best_val_bpd`).
        codec: complexity: "png" (default for images) or "jpegxl"; text, audio and plain values use bzip2.
        bpd: the model's bits per dimension of each input when already computed (`bits_per_dim`), so that several
            methods or a map of the same inputs pass over the model once.

    Raises:
        InputError: inputs the model cannot represent, a missing or mismatched background.
        ConfigError: an unknown method or codec, typicality without batch or reference.
    """
    if method not in METHODS:
        raise ConfigError(f"method={method!r}; choose one of {', '.join(METHODS)}")
    check_inputs(model, x)
    if method == "ratio":
        check_background(model, background)
    if method == "typicality" and (batch is None or batch < 1 or reference is None):
        raise ConfigError("typicality scores batches: give batch=M ≥ 1 and reference=Ĥ (validation bits/dim)")
    if bpd is None:
        bpd = bits_per_dim(model, x, cond, batch_size, progress)
    if method == "likelihood":
        return bpd, bpd, None
    if method == "ratio":
        return bpd - bits_per_dim(background, x, cond, batch_size, progress), bpd, None
    if method == "complexity":
        bits, name = complexity_bits(model, x, codec)
        return bpd - bits, bpd, name
    groups = torch.split(bpd.double(), batch)
    return torch.tensor([abs(float(g.mean()) - reference) for g in groups], dtype=torch.float32), bpd, None
