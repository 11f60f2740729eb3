"""The code grids of a trained VQ-VAE as a dataset: what a prior trains on (`--data codes:RUN`), and the way back
from sampled codes to images (videos for a VQ-VAE of video frames).

`codes:RUN` is the top grid of the VQ-VAE in the run directory RUN (its only grid for a one-level VQ-VAE);
`codes:RUN:bottom` the bottom grid of a two-level one, each example with its top grid as a conditioning map
(`Dataset.maps`: a prior trained on it reads the top codes at every position). Each split of the images the VQ-VAE
was trained on (as its run.json records them) is encoded once, in batches; labels are kept, so a prior can be
class-conditional. The values are nominal symbols (`DataKind.codes`, K = the codebook size).

A prior's run directory keeps a copy of its VQ-VAE in `RUN/vqvae/` (`keep_decoder`), so that sampling from the
prior needs that directory alone. The copy's digest (SHA-256 of its config and weights files) is recorded in its
`grid.json` and in the prior's run.json ("data": {"decoder": ...}); every use (`decoder_folder`) checks it, so a
swapped or damaged copy is refused, and a missing copy is replaced by the original VQ-VAE run only when that run's
digest is the recorded one (with a warning naming it).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import torch
from tqdm import tqdm

from chainrule import serialization
from chainrule.data import Dataset
from chainrule.data.augment import mirror_train
from chainrule.data.kind import DataKind
from chainrule.data.moving_mnist import FrameStream
from chainrule.data.run_record import run_info
from chainrule.data.sources import load_run_data, run_spec
from chainrule.errors import CheckpointError, ConfigError, InputError
from chainrule.models.base import load
from chainrule.models.trainable import CONFIG_FILE, WEIGHTS_FILE
from chainrule.models.vqvae import VQVAE

PREFIX = "codes:"
DECODER_DIR = "vqvae"  # where a prior's run keeps its VQ-VAE
GRIDS = ("top", "bottom")
GRID_FILE = "grid.json"  # in a prior's vqvae/: which grid it models, the VQ-VAE's images, its digest

log = logging.getLogger(__name__)


def is_codes(name: str | None) -> bool:
    """Whether a dataset name asks for VQ-VAE codes."""
    return isinstance(name, str) and name.startswith(PREFIX)


def parse(name: str) -> tuple[Path, str | None]:
    """codes:RUN[:top|bottom] → (RUN, the grid asked for or None)."""
    rest = name[len(PREFIX) :]
    run, _, grid = rest.rpartition(":") if rest.endswith(tuple(f":{g}" for g in GRIDS)) else (rest, "", "")
    if not run:
        raise ConfigError(f"{name!r}: name a VQ-VAE run directory, e.g. codes:runs/vq")
    return Path(run), grid or None


def load_vqvae(run: str | Path, device: str | torch.device = "cpu") -> VQVAE:
    """The VQ-VAE saved in `run`.

    Raises:
        ConfigError: when the directory holds another kind of model."""
    model = load(run, device)
    if not isinstance(model, VQVAE):
        raise ConfigError(f"{run} holds a {model.registry_name} model, not a vqvae: codes come from a VQ-VAE run")
    return model


def grid_index(vqvae: VQVAE, grid: str | None) -> int:
    """The index (top first) of the asked grid among the VQ-VAE's grids."""
    if vqvae.config.hierarchy == 1:
        if grid == "bottom":
            raise ConfigError("a one-level VQ-VAE has a single grid of codes: use codes:RUN")
        return 0
    return 1 if grid == "bottom" else 0


@torch.inference_mode()
def encode_split(
    vqvae: VQVAE, images: Dataset, level: int, name: str, batch_size: int = 64, progress: bool = True
) -> Dataset:
    """One split of images → the dataset of their codes on grid `level` (top first); `progress` shows a bar."""
    parts, tops = [], []
    batches = range(0, len(images), batch_size)
    for start in tqdm(batches, desc=f"encoding {images.split}", unit="batch", leave=False, disable=not progress):
        x, _ = images.batch(torch.arange(start, min(start + batch_size, len(images))))
        grids = vqvae.encode(x)
        parts.append(grids[level].to(torch.int16))
        tops.append(grids[0].to(torch.int16))
    k = vqvae.config.codes
    codes = torch.cat(parts) if parts else torch.zeros(0, *vqvae.code_shapes[level], dtype=torch.int16)
    maps = (torch.cat(tops) if tops else torch.zeros(0, *vqvae.code_shapes[0], dtype=torch.int16)) if level else None
    return Dataset(
        name=name,
        split=images.split,
        raw=codes,
        source_levels=k,
        levels=k,
        kind=DataKind.codes(k),
        labels=images.labels,
        num_classes=images.num_classes,
        maps=maps,
        map_levels=k if level else 0,
        mirrored=images.mirrored,
    )


# videos (a VQ-VAE of their frames): the sequences encoded, their frames' grids stacked top to bottom, (1, T·h, w),
# so that a prior's raster order is frame by frame and raster inside a frame; how many of each split
VIDEO_SEQUENCES = {"train": 2000, "val": 200, "test": 1000}


@torch.inference_mode()
def encode_videos(
    vqvae: VQVAE, videos: Dataset, level: int, name: str, count: int, batch_size: int = 64, progress: bool = True
) -> Dataset:
    """The first `count` videos of a split (of the stream's fixed sequences for training) → their code grids on
    grid `level`, each video's frames stacked: (count, 1, T·h, w)."""
    count = min(count, len(videos))
    index = torch.arange(count)
    x = videos.convert(videos.fresh.at(index)) if videos.fresh is not None else videos.x[:count]
    frames = x.flatten(0, 1)
    parts = []
    batches = range(0, len(frames), batch_size)
    for start in tqdm(batches, desc=f"encoding {videos.split}", unit="batch", leave=False, disable=not progress):
        parts.append(vqvae.encode(frames[start : start + batch_size])[level].to(torch.int16))
    _, h, w = vqvae.code_shapes[level]
    t = x.shape[1]
    grids = torch.cat(parts).view(count, t, h, w).reshape(count, 1, t * h, w)
    k = vqvae.config.codes
    return Dataset(name=name, split=videos.split, raw=grids, source_levels=k, levels=k, kind=DataKind.codes(k))


def code_splits(
    name: str,
    prior_run: str | Path | None = None,
    only: tuple[str, ...] | None = None,
    progress: bool = True,
    mirror: bool = False,
) -> dict[str, Dataset]:
    """The train / val / test code grids named by codes:RUN[:top|bottom]; with `prior_run`, a prior's run that
    keeps its VQ-VAE, those of the kept copy (the VQ-VAE's own run may be gone, e.g. for a zoo model); with
    `only`, just those splits are encoded; with `mirror`, the training images and their mirror images
    (`data.augment`).

    Raises:
        ConfigError, CheckpointError: a name or directory that holds no VQ-VAE run."""
    if prior_run is not None:
        vqvae, level = decoder_of(prior_run)
        images = load_run_data(grid_record(prior_run)["images"])
    else:
        run, grid = parse(name)
        vqvae = load_vqvae(run)
        level = grid_index(vqvae, grid)
        images = load_run_data(run_info(run)["data"])
    if mirror:
        images = mirror_train(images)
    chosen = {s: data for s, data in images.items() if only is None or s in only}
    if spec_of_frames(images):  # a VQ-VAE of video frames: its codes come as videos
        if vqvae.config.hierarchy != 1:
            raise ConfigError("a prior over video codes takes a one-level VQ-VAE")
        videos = videos_behind(images)
        return {s: encode_videos(vqvae, videos[s], level, name, VIDEO_SEQUENCES[s], progress=progress) for s in chosen}
    return {s: encode_split(vqvae, data, level, name, progress=progress) for s, data in chosen.items()}


def spec_of_frames(images: dict[str, Dataset]) -> bool:
    """Whether the images a VQ-VAE learned are the frames of videos."""
    return isinstance(images["train"].fresh, FrameStream)


def videos_behind(images: dict[str, Dataset]) -> dict[str, Dataset]:
    """The video splits whose frames `images` are."""
    spec = {**run_spec(images["train"]), "frames_of_videos": False}
    return load_run_data(spec)


def image_split(prior_run: str | Path, split: str) -> Dataset:
    """A split of the images behind the VQ-VAE a prior's run keeps (what it was trained on)."""
    return load_run_data(grid_record(prior_run)["images"])[split]


def run_data(
    spec: dict,
    name: str | None = None,
    run: str | Path | None = None,
    only: tuple[str, ...] | None = None,
    progress: bool = True,
) -> dict[str, Dataset]:
    """The splits a run's data spec (run.json "data") names: codes re-encoded by their VQ-VAE (the copy the run
    `run` keeps, when given), other data read by `data.sources.load_run_data` (optionally `name` read the same
    way); `only` limits which splits of codes are encoded."""
    name = name or spec["name"]
    if is_codes(name):
        return code_splits(name, run, only, progress, mirror=spec.get("mirror", False))
    return load_run_data(spec, name)


def decoder_digest(folder: str | Path) -> str:
    """SHA-256 (hex) of a model directory's config and weights files: what identifies a prior's VQ-VAE copy."""
    digest = hashlib.sha256()
    for file in (CONFIG_FILE, WEIGHTS_FILE):
        path = Path(folder) / file
        if not path.is_file():
            raise CheckpointError(f"{path} does not exist")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def keep_decoder(name: str, out: Path) -> str:
    """Copy the VQ-VAE behind codes:RUN into the prior's run directory `out` (out/vqvae/), with the grid it codes
    and its digest. Returns the digest."""
    run, grid = parse(name)
    target = Path(out) / DECODER_DIR
    target.mkdir(parents=True, exist_ok=True)
    for file in (CONFIG_FILE, WEIGHTS_FILE):
        shutil.copyfile(run / file, target / file)
    vqvae = load_vqvae(target)
    images = run_info(run)["data"]  # what the VQ-VAE was trained on
    digest = decoder_digest(target)
    record = {"level": grid_index(vqvae, grid), "source": str(run), "images": images, "digest": digest}
    serialization.write_json(target / GRID_FILE, record)
    return digest


def grid_record(prior_run: str | Path) -> dict:
    """The kept VQ-VAE's grid.json (level, source run, images, digest), its fields checked.

    Raises:
        InputError: a run that keeps no VQ-VAE; CheckpointError: a damaged record."""
    path = Path(prior_run) / DECODER_DIR / GRID_FILE
    if not path.is_file():
        raise InputError(f"{prior_run} keeps no VQ-VAE record ({path} is missing): it was not trained on codes:RUN")
    record = serialization.read_json(path)
    if (
        not isinstance(record, dict)
        or record.get("level") not in (0, 1)
        or not isinstance(record.get("images"), dict)
        or not isinstance(record.get("digest", ""), str)
    ):
        raise CheckpointError(f"{path} is not a VQ-VAE record (level, images, digest)")
    return record


def decoder_folder(prior_run: str | Path) -> Path:
    """The VQ-VAE directory a prior's run decodes through, its digest checked: the run's own copy `RUN/vqvae/`, or,
    when that copy is gone, the original VQ-VAE run if its files still have the recorded digest (logged).

    Raises:
        CheckpointError: a copy (or original) whose files differ from the ones the prior was trained with."""
    record, folder = grid_record(prior_run), Path(prior_run) / DECODER_DIR
    try:
        expected = run_info(prior_run)["data"].get("decoder") or record.get("digest")
    except CheckpointError:  # a zoo prior keeps no run.json: its grid record holds the digest
        expected = record.get("digest")
    if (folder / CONFIG_FILE).is_file() or (folder / WEIGHTS_FILE).is_file():
        if expected and decoder_digest(folder) != expected:
            raise CheckpointError(
                f"{folder} is not the VQ-VAE {prior_run} was trained with (its files' digest differs from the "
                "recorded one): restore the copy"
            )
        return folder
    source = Path(str(record.get("source", "")))
    if expected and (source / WEIGHTS_FILE).is_file() and decoder_digest(source) == expected:
        log.warning("%s has no VQ-VAE copy; decoding with the original run %s (same digest)", prior_run, source)
        return source
    raise CheckpointError(
        f"{prior_run} keeps no VQ-VAE copy ({folder}) and its original run {source} is missing or changed: restore "
        f"{folder}"
    )


def decoder_of(prior_run: str | Path, device: str | torch.device = "cpu") -> tuple[VQVAE, int]:
    """The VQ-VAE a prior's run decodes through (`decoder_folder`, checked) and the grid (top first) it models.

    Raises:
        InputError: a run without a kept VQ-VAE; CheckpointError: a copy that is not the one it was trained with."""
    level = int(grid_record(prior_run)["level"])
    return load_vqvae(decoder_folder(prior_run), device), level


def decode_samples(
    prior_run: str | Path, codes: torch.Tensor, top: torch.Tensor | None = None
) -> tuple[torch.Tensor, int]:
    """Sampled code grids (B, 1, h, w) of a prior → (images (B, C, H, W), their levels) through the kept VQ-VAE. A
    prior over the bottom grid of a two-level VQ-VAE needs the top codes it was conditioned on (`top`).

    Raises:
        InputError: a prior over one grid of a two-level VQ-VAE without the other grid."""
    vqvae, level = decoder_of(prior_run, codes.device)
    if vqvae.config.hierarchy == 1 and decodes_videos(prior_run):
        _, h, w = vqvae.code_shapes[0]  # a video's frames stacked: (B, 1, T·h, w) → (B, T, C, H, W)
        b, t = codes.shape[0], codes.shape[2] // h
        frames = vqvae.decode([codes.reshape(b, 1, t, h, w).transpose(1, 2).reshape(b * t, 1, h, w)])
        return frames.view(b, t, *frames.shape[1:]), vqvae.levels
    if vqvae.config.hierarchy == 1:
        return vqvae.decode([codes]), vqvae.levels
    if level == 0 or top is None:
        raise InputError(
            "this prior models one grid of a two-level VQ-VAE; its images need the top and the bottom codes: sample "
            "the bottom prior with --top TOP_PRIOR_RUN"
        )
    return vqvae.decode([top, codes]), vqvae.levels


def decodes_videos(prior_run: str | Path) -> bool:
    """Whether a prior's codes are those of videos (a VQ-VAE of their frames): its samples decode to videos."""
    return bool(grid_record(prior_run)["images"].get("frames_of_videos"))


def same_decoder(first: str | Path, second: str | Path) -> bool:
    """Whether two priors' runs keep the same VQ-VAE (identical weights files)."""
    a, b = (Path(r) / DECODER_DIR / WEIGHTS_FILE for r in (first, second))
    return a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
