"""A training run from names: model + preset + overrides, dataset, budget → a run directory.

Run directory: `run.json` (what was trained, on what, how), `config.json` + `model.safetensors` (best weights;
`chainrule.load(run_dir)` reads them), `checkpoint/` (resumable state), `metrics.csv`, `loss.png`,
`results.json` (test figures).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from chainrule import config as cfg
from chainrule import serialization
from chainrule.data import load_splits, moving_mnist
from chainrule.data.augment import mirror_train
from chainrule.data.run_record import RUN_FILE, run_info
from chainrule.data.sources import run_spec
from chainrule.errors import ConfigError
from chainrule.models import codes, create, preset_hparams, presets
from chainrule.models.base import MODELS, from_description
from chainrule.train import distributed
from chainrule.train.config import TrainConfig
from chainrule.train.trainer import Trainer
from chainrule.version import __version__


def model_hparams(
    model: str,
    preset: str | None,
    overrides: dict[str, Any],
    shape: tuple[int, ...] | None = None,
    levels: int | None = None,
) -> tuple[dict, dict]:
    """Hyper-parameters (model, training) of a preset (fitted to the data `shape` and `levels`) with overrides
    applied."""
    if not preset:
        return dict(overrides), {}
    train = dict(preset_table(model, preset).get("train", {}))  # also refuses an unknown preset
    return {**preset_hparams(model, preset, shape, levels), **overrides}, train


AUTO_PRESET = "auto"  # the preset that follows the device: "cpu" on a CPU, "paper" on CUDA
NO_PRESET = "none"  # the config classes' own defaults (the paper's sizes for most families)


def resolve_preset(preset: str | None, device: str = "cpu") -> str | None:
    """The preset a run uses: `auto` follows the device (`cpu` on a CPU, `paper` on CUDA), `none` (or None) means
    the config's own defaults, any other name is itself."""
    if preset == AUTO_PRESET:
        return "paper" if str(device).startswith("cuda") else "cpu"
    return None if preset in (None, NO_PRESET) else preset


def preset_table(model: str, preset: str | None) -> dict[str, Any]:
    """The preset's entries ({} for none): model hyper-parameters, "train" settings and "data" options."""
    if not preset:
        return {}
    table = presets(model)
    if preset not in table:
        raise ConfigError(f"preset={preset!r} unknown for {model}; available: {', '.join(table) or 'none'}")
    return table[preset]


CODE_EMBEDDING = 32  # the width of a prior's learned code embedding unless the preset or --set gives one


def check_model_data(entry, kind, data: str, binarize: str | None = None) -> None:
    """Refuse a model family for data it cannot model: a VQ-VAE takes images; codes need a prior that embeds them;
    videos need a video model and a video model videos; grey values read as probabilities need a video model.

    Raises:
        ConfigError: naming what fits."""
    video_models = [n for n in MODELS.names() if MODELS.get(n).kind == "video"]
    if kind.is_video and entry.kind not in ("video", "latent"):
        raise ConfigError(f"{data} holds videos; choose a video model ({', '.join(video_models)})")
    if entry.kind == "video" and not kind.is_video:
        raise ConfigError(f"{entry.name} models videos; {data} holds {kind.name} data")
    if binarize == "soft" and entry.kind != "video":
        raise ConfigError(f"--binarize soft (grey values as probabilities) trains {', '.join(video_models)} only")
    if entry.kind == "latent" and not (kind.is_image or kind.is_video):
        raise ConfigError(f"{entry.name} learns codes of images; {data} holds {kind.name} data")
    if kind.is_codes and "embed" not in cfg.field_names(entry.config):
        fitting = [n for n in MODELS.names() if "embed" in cfg.field_names(MODELS.get(n).config)]
        raise ConfigError(f"{entry.name} cannot model VQ-VAE codes; choose one of {', '.join(fitting)}")


def train_model(
    model: str | None = None,
    data: str | None = None,
    out: str | Path = "runs/run",
    levels: int | None = None,
    binarize: str | None = None,
    preset: str | None = AUTO_PRESET,
    hparams: dict[str, Any] | None = None,
    train: dict[str, Any] | None = None,
    resume: bool = False,
    progress: bool = True,
    vocab: str | None = None,
    length: int | None = None,
    encoding: str | None = None,
    rate: int | None = None,
    condition: str | None = None,
    video: dict[str, int] | None = None,
    mirror: bool = False,
) -> dict[str, Any]:
    """Train a model and return its test results (see `Trainer.fit`). `vocab` ("bytes" or "chars") and `length`
    (tokens per chunk; default: the preset's, else 256) apply to text data; `encoding`, `rate` and `length` (crop)
    to audio; `condition` ("lowres:F", "grey") makes an image-to-image model (`data.conditions`); `video` the geometry
    of moving-mnist ({"frames", "size", "digits"}); `mirror` adds each training image's mirror image (images and
    codes of images, `data.augment`). `preset` "auto" (the default) takes `cpu` on a CPU and `paper` on CUDA
    (`resolve_preset`); None or "none" the config defaults.

    With `resume`, everything is read back from `out/run.json`; budget fields in `train` may extend it. Under
    torchrun, every process calls this with the same arguments and trains its shard (`train.distributed`).

    Raises:
        ChainruleError subclasses for unknown names, bad settings, missing data or a bad run directory.
    """
    out = Path(out)
    if resume:
        info = run_info(out)
        data_spec = info["data"]
        if mirror and not data_spec.get("mirror"):
            raise ConfigError(f"{out} was trained without --mirror: a resumed run keeps its data (train a new run)")
        kept = dict(info["train"])
        if "bf16" in kept:  # runs written before `precision` replaced the bf16 switch
            kept["precision"] = "bf16" if kept.pop("bf16") else "fp32"
        asked = (train or {}).get("precision")
        if asked is not None and asked != kept.get("precision", "auto"):
            raise ConfigError(
                f"precision={asked} conflicts with the run's precision={kept.get('precision', 'auto')}: a resumed run "
                "keeps the precision it started in (drop --precision, or train a new run)"
            )
        train_settings = {**kept, **(train or {})}
        config = cfg.from_dict(TrainConfig, train_settings)
        splits = codes.run_data(data_spec, run=out, progress=progress)  # codes: through the VQ-VAE the run keeps
        torch.manual_seed(config.seed)  # the same initial weights as the original run (if it never checkpointed)
        net = from_description(info["model"])
    else:
        if model is None or data is None:
            raise ConfigError("train needs a model and a dataset (or --resume with an existing run directory)")
        if (out / RUN_FILE).exists():  # every process checks before rank 0 writes (after the barrier below)
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        preset = resolve_preset(preset, (train or {}).get("device", "cpu"))
        if length is None:  # a text preset names the context length it was tuned for
            length = preset_table(model, preset).get("data", {}).get("length")
        if codes.is_codes(data):
            if any(v is not None for v in (levels, binarize, vocab, encoding, rate, condition, video)):
                raise ConfigError(
                    f"{data} holds VQ-VAE codes: levels, binarize, vocab, encoding, rate, condition do not apply"
                )
            splits = codes.code_splits(data, progress=progress, mirror=mirror)
        else:
            splits = load_splits(data, levels, binarize, vocab, length, encoding, rate, condition, video)
            splits = mirror_train(splits) if mirror else splits
        if MODELS.get(model).kind == "latent" and splits["train"].kind.is_video:
            splits = moving_mnist.frame_splits(splits)  # a VQ-VAE learns single frames of the videos
        first = splits["train"]
        model_args, preset_train = model_hparams(model, preset, hparams or {}, first.shape, first.levels)
        entry = MODELS.get(model)
        kind, fields = first.kind, cfg.field_names(entry.config)
        check_model_data(entry, kind, data, first.binarize)
        if kind.is_codes and "embed" not in model_args:
            model_args["embed"] = CODE_EMBEDDING  # codes are symbols: the prior learns an embedding of them
        if first.maps is not None:  # the bottom codes of a VQ-VAE-2: the top codes are the prior's map
            if "map_shape" not in fields:
                raise ConfigError(f"{model} cannot read a conditioning map; choose gated-pixelcnn or pixelsnail")
            model_args.update(map_shape=tuple(first.maps.shape[1:]), map_levels=first.map_levels)
        if kind.is_text and "vocab" in fields:
            model_args["vocab"] = kind.vocab  # the vocabulary is saved with the model
        if kind.is_audio and "rate" in fields:
            model_args.update(rate=kind.rate, encoding=kind.encoding)  # to write WAV files
        config = cfg.from_dict(TrainConfig, {**preset_train, **(train or {})})
        torch.manual_seed(config.seed)
        net = create(model, shape=first.shape, levels=first.levels, **model_args)
        if net.num_classes and (first.labels is None or net.num_classes < first.num_classes):
            raise ConfigError(f"num_classes={net.num_classes}, but {data} has {first.num_classes or 'no'} classes")
        data_spec = run_spec(first)
        info = {"chainrule": __version__, "model": net.describe(), "data": data_spec, "preset": preset}
    info["train"] = cfg.to_dict(config)
    ranks, device = distributed.setup(config.device)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        serialization.write_json(out / RUN_FILE, info)
        if codes.is_codes(data_spec["name"]) and not resume:
            # sampling from the prior decodes through this copy; run.json records its digest
            info["data"] = {**data_spec, "decoder": codes.keep_decoder(data_spec["name"], out)}
            serialization.write_json(out / RUN_FILE, info)
    distributed.wait(ranks)
    trainer = Trainer(net, splits, dataclasses.replace(config, device=device), out, progress=progress, ranks=ranks)
    results = trainer.fit(resume=resume)
    return {**results, "run": str(out), "train_config": dataclasses.asdict(config)}
