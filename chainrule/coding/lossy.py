"""Lossy image compression through a VQ-VAE and priors over its codes (`chainrule compress --lossy`): the image is
encoded to its grids of codes (the loss: the VQ-VAE's reconstruction), and the codes are coded losslessly by the
priors' conditionals with the one coder (`coding.codec`).

- One level: one file, the prior's, with the VQ-VAE's fingerprint in its header's extra facts.
- Two levels (VQ-VAE-2): the top codes coded by the top prior, then the bottom codes by the bottom prior given the
  top codes (the design's hierarchy), the two files framed as one: `FRAME`, the top file's length (4 bytes, little
  endian), the top file, the bottom file. The bottom file carries the facts.

Class-conditional priors code each image's codes given its class; the classes (one byte each) are stored in the
facts and count in the file's size. Decoding checks the VQ-VAE and each prior, decodes the codes and then the
images. Plain `compress` refuses a prior over codes: lossless must stay lossless.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from chainrule.coding import codec, container
from chainrule.data.condition import Condition
from chainrule.errors import CompressedFileError, InputError
from chainrule.models.vqvae import VQVAE

LOSSY = "lossy"  # the key of the VQ-VAE's facts in the header's extra
FRAME = b"crVQ2"  # a two-level file: the top codes' file, then the bottom codes'


def check_priors(priors: Sequence, vqvae: VQVAE) -> None:
    """`priors` must be one prior per grid of the VQ-VAE, top first; a bottom prior reads the top codes.

    Raises:
        InputError: another number of priors, a prior over another grid, a bottom prior that does not read the
            top codes, or priors that disagree on classes."""
    grids = vqvae.config.hierarchy
    if len(priors) != grids:
        raise InputError(
            f"the VQ-VAE has {grids} grid{'s' * (grids > 1)} of codes; lossy compression needs a prior for each "
            + ("(the bottom prior, and the top one with --top)" if grids > 1 else "")
        )
    for level, prior in enumerate(priors):
        if tuple(prior.shape) != vqvae.code_shapes[level] or prior.levels != vqvae.config.codes:
            raise InputError(
                f"the prior models {tuple(prior.shape)} codes at {prior.levels} levels; the VQ-VAE gives "
                f"{vqvae.code_shapes[level]} at {vqvae.config.codes}"
            )
        wants = vqvae.code_shapes[level - 1] if level else ()
        if tuple(prior.map_shape or ()) != tuple(wants) or level and prior.map_levels != vqvae.config.codes:
            raise InputError(
                "the bottom prior must read the top codes as its map" if level else "the top prior reads no map"
            )
    if len({prior.num_classes for prior in priors}) != 1:
        raise InputError("the priors disagree on classes: one is class-conditional and the other is not")


def check_classes(priors: Sequence, classes: Tensor | None, count: int) -> Tensor | None:
    """The images' classes, long (count,), for class-conditional priors; None for unconditional ones.

    Raises:
        InputError: classes missing, given to unconditional priors, not one per image, or out of range."""
    num = priors[0].num_classes
    if not num:
        if classes is not None:
            raise InputError("the priors are not class-conditional: give no class")
        return None
    if classes is None:
        raise InputError(f"the priors are class-conditional: give each image's class (0..{num - 1}, --class)")
    classes = torch.as_tensor(classes).long().reshape(-1)
    if len(classes) == 1:
        classes = classes.expand(count)
    if len(classes) != count or classes.numel() and (int(classes.min()) < 0 or int(classes.max()) >= num):
        raise InputError(f"give one class in 0..{num - 1} per image ({count} images)")
    return classes


def _device(model) -> torch.device:
    return next(model.parameters()).device


def compress(
    priors: Sequence, vqvae: VQVAE, images: Tensor, classes: Tensor | None = None, extra: dict[str, Any] | None = None,
    original_size: int | None = None, progress: bool = False,
) -> bytes:  # fmt: skip
    """Images long (N, C, H, W) → a compressed file of their codes (`priors`: one per grid, top first; `classes`:
    the images' classes for class-conditional priors, or one class for all)."""
    check_priors(priors, vqvae)
    classes = check_classes(priors, classes, len(images))
    grids = vqvae.encode(images.to(_device(vqvae)))
    facts: dict[str, Any] = {"vqvae": container.fingerprint(vqvae).hex()}
    if classes is not None:
        facts["classes"] = bytes(classes.tolist()).hex()
    files = []
    for level, (prior, codes) in enumerate(zip(priors, grids, strict=True)):
        cond = _condition(prior, classes, grids[level - 1] if level else None)
        last = level == len(priors) - 1
        files.append(
            codec.compress(
                prior,
                codes,
                extra={**(extra or {}), LOSSY: facts} if last else None,
                original_size=original_size if last else None,
                progress=progress,
                cond=cond,
            )
        )
    if len(files) == 1:
        return files[0]
    return FRAME + len(files[0]).to_bytes(4, "little") + files[0] + files[1]


def _condition(prior, classes: Tensor | None, top: Tensor | None) -> Condition | None:
    if classes is None and top is None:
        return None
    device = _device(prior)
    return Condition(
        classes=None if classes is None else classes.to(device), map=None if top is None else top.to(device)
    )


def split(blob: bytes) -> list[bytes]:
    """A lossy file's coded grids, top first (one for a one-level VQ-VAE).

    Raises:
        CompressedFileError: a two-level frame that is truncated."""
    if not blob.startswith(FRAME):
        return [blob]
    start = len(FRAME) + 4
    size = int.from_bytes(blob[len(FRAME) : start], "little")
    if len(blob) < start + size:
        raise CompressedFileError("the two-level lossy file is truncated")
    return [blob[start : start + size], blob[start + size :]]


def header(blob: bytes) -> container.Header:
    """The header that carries a file's facts (the last grid's)."""
    return container.unpack(split(blob)[-1])[0]


def is_lossy(blob: bytes) -> bool:
    """Whether a compressed file holds VQ-VAE codes."""
    return blob.startswith(FRAME) or LOSSY in container.unpack(blob)[0].extra


def grids_of(blob: bytes) -> int:
    """How many grids of codes a lossy file holds (the priors it needs to decode)."""
    return len(split(blob))


def decompress(priors: Sequence, vqvae: VQVAE, blob: bytes, progress: bool = False) -> tuple[Tensor, dict[str, Any]]:
    """A file of `compress` → (the decoded images long (N, C, H, W), the header's extra facts).

    Raises:
        CompressedFileError: not a lossy file, or one made with another VQ-VAE or other priors."""
    parts = split(blob)
    facts = container.unpack(parts[-1])[0].extra.get(LOSSY)
    if not isinstance(facts, dict) or "vqvae" not in facts:
        raise CompressedFileError("the file holds no VQ-VAE codes: decompress it without --lossy")
    if facts.get("vqvae") != container.fingerprint(vqvae).hex():
        raise CompressedFileError(
            f"the file's codes are those of another VQ-VAE (fingerprint {facts.get('vqvae')}, the prior's "
            f"{container.fingerprint(vqvae).hex()})"
        )
    if len(parts) != vqvae.config.hierarchy:
        raise CompressedFileError(
            f"the file holds {len(parts)} grid(s) of codes; the VQ-VAE has {vqvae.config.hierarchy}"
        )
    check_priors(priors, vqvae)
    count = container.unpack(parts[-1])[0].count
    classes = None
    if "classes" in facts:
        try:
            classes = torch.tensor(list(bytes.fromhex(str(facts["classes"]))), dtype=torch.long)
        except ValueError:
            raise CompressedFileError("the file's classes are corrupt") from None
        if len(classes) != count:
            raise CompressedFileError("the file's classes are corrupt")
    if bool(priors[0].num_classes) != (classes is not None):
        raise CompressedFileError("the file was coded with priors that differ from these in classes")
    grids: list[Tensor] = []
    for level, (prior, part) in enumerate(zip(priors, parts, strict=True)):
        cond = _condition(prior, classes, grids[level - 1] if level else None)
        grids.append(codec.decompress(prior, part, progress=progress, cond=cond).to(_device(vqvae)))
    with torch.no_grad():
        images = vqvae.decode(grids).cpu()
    extra = {k: v for k, v in container.unpack(parts[-1])[0].extra.items() if k != LOSSY}
    return images, extra
