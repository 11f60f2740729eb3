"""Lossy image compression through a VQ-VAE and a prior over its codes (`chainrule compress --lossy`): the image is
encoded to its grid of codes (the loss: the VQ-VAE's reconstruction), and the codes are coded losslessly by the
prior's conditionals with the one coder (`coding.codec`). The file's header is the prior's, with the VQ-VAE's
fingerprint in its extra facts; decoding checks both, decodes the codes and then the image.

Plain `compress` refuses a prior over codes: lossless must stay lossless.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from chainrule.coding import codec, container
from chainrule.errors import CompressedFileError, InputError
from chainrule.models.vqvae import VQVAE

LOSSY = "lossy"  # the key of the VQ-VAE's facts in the header's extra


def check_pair(prior, vqvae: VQVAE) -> None:
    """The prior must model the VQ-VAE's only grid of codes.

    Raises:
        InputError: a two-level VQ-VAE, or a prior over another grid."""
    if vqvae.config.hierarchy != 1:
        raise InputError("lossy compression codes one grid of codes: use a one-level VQ-VAE and its prior")
    if tuple(prior.shape) != vqvae.code_shapes[0] or prior.levels != vqvae.config.codes:
        raise InputError(
            f"the prior models {tuple(prior.shape)} codes at {prior.levels} levels; the VQ-VAE gives "
            f"{vqvae.code_shapes[0]} at {vqvae.config.codes}"
        )


def compress(
    prior, vqvae: VQVAE, images: Tensor, extra: dict[str, Any] | None = None, original_size: int | None = None,
    progress: bool = False,
) -> bytes:  # fmt: skip
    """Images long (N, C, H, W) → a compressed file of their codes."""
    check_pair(prior, vqvae)
    codes = vqvae.encode(images.to(next(vqvae.parameters()).device))[0]
    facts = {**(extra or {}), LOSSY: {"vqvae": container.fingerprint(vqvae).hex()}}
    return codec.compress(prior, codes, extra=facts, original_size=original_size, progress=progress)


def is_lossy(blob: bytes) -> bool:
    """Whether a compressed file holds VQ-VAE codes."""
    header, _ = container.unpack(blob)
    return LOSSY in header.extra


def decompress(prior, vqvae: VQVAE, blob: bytes, progress: bool = False) -> tuple[Tensor, dict[str, Any]]:
    """A file of `compress` → (the decoded images long (N, C, H, W), the header's extra facts).

    Raises:
        CompressedFileError: not a lossy file, or one made with another VQ-VAE or prior."""
    header, _ = container.unpack(blob)
    facts = header.extra.get(LOSSY)
    if not isinstance(facts, dict):
        raise CompressedFileError("the file holds no VQ-VAE codes: decompress it without --lossy")
    if facts.get("vqvae") != container.fingerprint(vqvae).hex():
        raise CompressedFileError(
            f"the file's codes are those of another VQ-VAE (fingerprint {facts.get('vqvae')}, the prior's "
            f"{container.fingerprint(vqvae).hex()})"
        )
    check_pair(prior, vqvae)
    codes = codec.decompress(prior, blob, progress=progress)
    with torch.no_grad():
        images = vqvae.decode([codes.to(next(vqvae.parameters()).device)]).cpu()
    extra = {k: v for k, v in header.extra.items() if k != LOSSY}
    return images, extra
