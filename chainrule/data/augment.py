"""Training images augmented by their mirror images (`train --mirror`): the training split holds every image and
its left-right mirror, so a model over few images (3,081 emoji) sees twice as many; validation and test stay as
they are, so their figures compare with runs trained without it. For a prior over VQ-VAE codes the images are
mirrored before they are encoded (`models.codes`): the codes of a mirrored image are not the mirrored codes."""

from __future__ import annotations

import dataclasses

import torch

from chainrule.data.dataset import Dataset
from chainrule.errors import ConfigError


def mirror_train(splits: dict[str, Dataset]) -> dict[str, Dataset]:
    """The splits with each training image followed, as a new example, by its left-right mirror (same label; a
    conditioning image, low resolution or grey, mirrored with it).

    Raises:
        ConfigError: for data that is not a fixed set of images (text, audio, video, generated streams)."""
    train = splits["train"]
    if not train.kind.is_image:
        raise ConfigError(f"--mirror applies to images (and VQ-VAE codes of images), not to {train.kind.name} data")
    if train.fresh is not None:
        raise ConfigError(f"--mirror applies to a fixed set of images, not to {train.fresh.about()} made on the fly")
    if train.mirrored:
        return splits
    mirrored = dataclasses.replace(
        train,
        raw=torch.cat([train.raw, train.raw.flip(-1)]),
        labels=None if train.labels is None else train.labels.repeat(2),
        maps=None if train.maps is None else torch.cat([train.maps, train.maps.flip(-1)]),
        mirrored=True,
    )
    return {**splits, "train": mirrored}
