"""VQ-VAE (van den Oord, Vinyals, Kavukcuoglu 2017, "Neural Discrete Representation Learning", arXiv 1711.00937) and
its two-level form VQ-VAE-2 (Razavi, van den Oord, Vinyals 2019, "Generating Diverse High-Fidelity Images with
VQ-VAE-2", arXiv 1906.00446).

An encoder maps an image to a grid of vectors, each replaced by the nearest of K code vectors (`nn.quantizer`); a
decoder maps the code vectors back to the image. With `hierarchy=2` a top encoder reduces the bottom features twice
more and is quantised first; the bottom codes are then chosen from the bottom features together with what the top
codes say about them, and the decoder reads both grids. The codes are what the autoregressive priors model
(`chainrule train --data codes:RUN`, `data.codes`): sampling draws codes and decodes them.

This is not an exact-likelihood model: it trains on reconstruction error + β · commitment (the codebook follows
moving averages, updated in `after_step`), and reports reconstruction MSE and PSNR and the codebook's use. Images
are scaled to [-1, 1]; PSNR is on the 8-bit scale of the levels.

Deviation from the papers: every downsampling step is a 4x4 stride-2 convolution with `hidden` channels (the papers
halve the width of the first one); dead codes are restarted at random encoder outputs of the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from chainrule.data.kind import DataKind
from chainrule.errors import ConfigError, InputError
from chainrule.models.base import check_shape_levels, register
from chainrule.models.footprint import Footprint, conv, masked_network
from chainrule.models.trainable import Trainable
from chainrule.nn.quantizer import VectorQuantizer, perplexity
from chainrule.nn.residual_stack import ResidualStack


@dataclass(frozen=True)
class VQVAEConfig:
    """VQ-VAE hyper-parameters.

    Attributes:
        shape, levels: the images: (C, H, W) with K levels.
        hierarchy: 1 (VQ-VAE) or 2 (VQ-VAE-2: a top grid at half the bottom grid's side).
        downsample: the bottom grid's reduction of the image side (a power of 2; 4 in the VQ-VAE-2 paper).
        hidden: channels of the encoder and decoder.
        residual_hidden, residual_layers: the residual stacks (channels inside a block, blocks per stack).
        codes: codebook size K (the prior's levels); code_dim: dimension of a code vector.
        commitment: β, the weight of the commitment loss.
        decay: γ of the codebook's moving averages.
        dead_below: a code whose average count per batch falls below this is restarted.
    """

    shape: tuple[int, ...]
    levels: int
    hierarchy: int = 1
    downsample: int = 4
    hidden: int = 64
    residual_hidden: int = 32
    residual_layers: int = 2
    codes: int = 256
    code_dim: int = 32
    commitment: float = 0.25
    decay: float = 0.99
    dead_below: float = 1.0

    def __post_init__(self) -> None:
        check_shape_levels(self.shape, self.levels)
        if len(self.shape) != 3:
            raise ConfigError(f"shape={tuple(self.shape)} must be (channels, height, width) for a VQ-VAE")
        if self.hierarchy not in (1, 2):
            raise ConfigError(f"hierarchy={self.hierarchy}: 1 (VQ-VAE) or 2 (VQ-VAE-2)")
        factor = self.downsample * (2 if self.hierarchy == 2 else 1)
        if self.downsample < 2 or self.downsample & (self.downsample - 1):
            raise ConfigError(f"downsample={self.downsample} must be a power of 2, at least 2")
        if self.shape[1] % factor or self.shape[2] % factor:
            raise ConfigError(f"the image side {self.shape[1]}x{self.shape[2]} must be a multiple of {factor}")
        if min(self.hidden, self.residual_hidden, self.codes, self.code_dim) < 1 or self.residual_layers < 0:
            raise ConfigError("hidden, residual_hidden, codes and code_dim must be ≥ 1, residual_layers ≥ 0")
        if self.codes < 2:
            raise ConfigError(f"codes={self.codes} must be at least 2")
        if not 0 <= self.decay < 1 or self.commitment < 0 or self.dead_below < 0:
            raise ConfigError("decay must be in [0, 1), commitment and dead_below ≥ 0")

    @property
    def steps(self) -> int:
        """Stride-2 convolutions of the bottom encoder."""
        return int(math.log2(self.downsample))

    def footprint(self) -> Footprint:
        c, h, d, k = self.shape[0], self.hidden, self.code_dim, self.codes
        stack = self.residual_layers * (conv(h, self.residual_hidden, 3, 3) + conv(self.residual_hidden, h, 1, 1))
        quantizer = 2 * k * d + k
        down = conv(c, h, 4, 4) + (self.steps - 1) * conv(h, h, 4, 4) + conv(h, h, 3, 3) + stack
        up = (self.steps - 1) * conv(h, h, 4, 4) + conv(h, c, 4, 4) + stack
        if self.hierarchy == 1:
            weights = down + conv(h, d, 1, 1) + quantizer + conv(d, h, 3, 3) + up
        else:
            top = conv(h, h, 4, 4) + conv(h, h, 3, 3) + stack + conv(h, d, 1, 1)
            top_decoder = conv(d, h, 3, 3) + stack + conv(h, d, 4, 4)
            weights = (
                down
                + top
                + top_decoder
                + conv(h + d, d, 1, 1)
                + 2 * quantizer
                + conv(d, d, 4, 4)
                + conv(2 * d, h, 3, 3)
            ) + up
        modules = 16 + 8 * (self.steps + 3 * self.hierarchy * (1 + self.residual_layers))
        return masked_network(weights, modules=modules)


def encoder(config: VQVAEConfig) -> nn.Sequential:
    """Image scaled to [-1, 1] (B, C, H, W) → features (B, hidden, H/f, W/f)."""
    h, layers = config.hidden, []
    for i in range(config.steps):
        layers += [nn.Conv2d(config.shape[0] if i == 0 else h, h, 4, stride=2, padding=1), nn.ReLU()]
    layers += [nn.Conv2d(h, h, 3, padding=1), ResidualStack(h, config.residual_hidden, config.residual_layers)]
    return nn.Sequential(*layers)


def decoder(config: VQVAEConfig, inputs: int) -> nn.Sequential:
    """Code vectors (B, inputs, H/f, W/f) → the image in [-1, 1] scale (B, C, H, W)."""
    h, layers = config.hidden, [nn.Conv2d(inputs, config.hidden, 3, padding=1)]
    layers.append(ResidualStack(h, config.residual_hidden, config.residual_layers))
    for i in range(config.steps):
        last = i == config.steps - 1
        layers.append(nn.ConvTranspose2d(h, config.shape[0] if last else h, 4, stride=2, padding=1))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@register(
    "vqvae",
    config=VQVAEConfig,
    kind="latent",
    tiny=dict(hidden=8, residual_hidden=4, residual_layers=1, codes=16, code_dim=4, downsample=2),
    presets={
        # 64x64 photos → a 16x16 grid of 512 codes (VQ-VAE-2's bottom level)
        "cpu": dict(hidden=64, residual_hidden=32, residual_layers=2, codes=512, code_dim=32, train=dict(lr=2e-3)),
        "paper": dict(hidden=128, residual_hidden=64, residual_layers=2, codes=512, code_dim=64, train=dict(lr=3e-4)),
    },
)
class VQVAE(Trainable):
    """long images (B, C, H, W) ⇄ code grids: `encode` → [bottom] or [top, bottom], `decode` ← the same list."""

    metric_columns = ("loss", "mse", "psnr", "perplexity", "dead")
    selection_metric = "loss"

    def __init__(self, config: VQVAEConfig) -> None:
        super().__init__(config)
        h, d = config.hidden, config.code_dim
        self.encoder = encoder(config)
        self.quantizers = nn.ModuleList(
            VectorQuantizer(config.codes, d, config.decay, config.dead_below) for _ in range(config.hierarchy)
        )
        if config.hierarchy == 1:
            self.to_codes = nn.Conv2d(h, d, 1)
        else:
            stack = [ResidualStack(h, config.residual_hidden, config.residual_layers)]
            self.top_encoder = nn.Sequential(
                nn.Conv2d(h, h, 4, stride=2, padding=1), nn.ReLU(), nn.Conv2d(h, h, 3, padding=1), *stack,
                nn.Conv2d(h, d, 1),
            )  # fmt: skip
            stack = [ResidualStack(h, config.residual_hidden, config.residual_layers)]
            self.top_decoder = nn.Sequential(nn.Conv2d(d, h, 3, padding=1), *stack, nn.ConvTranspose2d(h, d, 4, 2, 1))
            self.to_codes = nn.Conv2d(h + d, d, 1)  # the bottom features with what the top codes say of them
            self.upsample_top = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.decoder = decoder(config, d * config.hierarchy)

    @property
    def data_kind(self) -> DataKind:
        return DataKind.image(self.levels)

    @property
    def dims(self) -> int:
        return math.prod(self.shape)

    @property
    def code_shapes(self) -> list[tuple[int, int, int]]:
        """The (1, h, w) shape of each code grid, top first."""
        _, height, width = self.shape
        f = self.config.downsample
        bottom = (1, height // f, width // f)
        return [(1, height // (2 * f), width // (2 * f)), bottom] if self.config.hierarchy == 2 else [bottom]

    def scale(self, x: Tensor) -> Tensor:
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def check_images(self, x: Tensor) -> Tensor:
        """x as long, checked like an image model's input.

        Raises:
            InputError: a float tensor, another shape or values outside the levels."""
        if not isinstance(x, Tensor) or x.dtype.is_floating_point or x.dtype == torch.bool:
            raise InputError(f"images must be an integer tensor of shape (B, {', '.join(map(str, self.shape))})")
        if tuple(x.shape[1:]) != self.shape:
            raise InputError(
                f"images have shape {tuple(x.shape)}; this VQ-VAE takes (B, {', '.join(map(str, self.shape))})"
            )
        if x.numel() and (int(x.min()) < 0 or int(x.max()) >= self.levels):
            raise InputError(f"images have values in [{int(x.min())}, {int(x.max())}]; allowed 0..{self.levels - 1}")
        return x.long()

    # --- the autoencoder ----------------------------------------------------------------------------------

    def quantize(self, x: Tensor) -> list:
        """The `Quantized` of every level, top first."""
        features = self.encoder(self.scale(x))
        if self.config.hierarchy == 1:
            return [self.quantizers[0](self.to_codes(features))]
        top = self.quantizers[0](self.top_encoder(features))
        bottom = self.quantizers[1](self.to_codes(torch.cat([features, self.top_decoder(top.straight)], dim=1)))
        return [top, bottom]

    def decode_vectors(self, vectors: list[Tensor]) -> Tensor:
        """Code vectors of every level (top first) → the reconstruction in [-1, 1] scale, float (B, C, H, W)."""
        if self.config.hierarchy == 1:
            return self.decoder(vectors[0])
        return self.decoder(torch.cat([self.upsample_top(vectors[0]), vectors[1]], dim=1))

    def forward(self, x: Tensor) -> tuple[Tensor, list]:
        """long (B, C, H, W) → (reconstruction in [-1, 1] scale, the `Quantized` of every level)."""
        levels = self.quantize(x)
        return self.decode_vectors([q.straight for q in levels]), levels

    @torch.no_grad()
    def encode(self, x: Tensor) -> list[Tensor]:
        """Images → their code grids, top first: long (B, 1, h, w) each, values in [0, codes)."""
        return [q.codes[:, None] for q in self.quantize(self.check_images(x))]

    @torch.no_grad()
    def decode(self, codes: list[Tensor]) -> Tensor:
        """Code grids (top first, long (B, 1, h, w)) → images at the model's levels, long (B, C, H, W)."""
        shapes = self.code_shapes
        if len(codes) != len(shapes) or any(tuple(c.shape[1:]) != s for c, s in zip(codes, shapes, strict=False)):
            raise InputError(f"this VQ-VAE decodes code grids of shapes {shapes} (top first)")
        vectors = [q.embed(c[:, 0].long()) for q, c in zip(self.quantizers, codes, strict=True)]
        return self.to_levels(self.decode_vectors(vectors))

    def to_levels(self, scaled: Tensor) -> Tensor:
        """[-1, 1] scale → the nearest level, long."""
        return ((scaled + 1) * ((self.levels - 1) / 2)).round().clamp(0, self.levels - 1).long()

    # --- the training contract -------------------------------------------------------------------------------

    def psnr(self, mse_scaled: float) -> float:
        """PSNR in dB on the 8-bit scale from an MSE in the [-1, 1] scale (peak-to-peak 2)."""
        return 10 * math.log10(4.0 / mse_scaled) if mse_scaled > 0 else math.inf

    def objective(self, x: Tensor, cond: Tensor | None, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """Reconstruction MSE + β · commitment, summed over the levels' commitments."""
        recon, levels = self(x)
        mse = F.mse_loss(recon.float(), self.scale(x))
        commitment = sum(q.commitment for q in levels)
        loss = mse + self.config.commitment * commitment
        usage = perplexity(torch.bincount(levels[-1].codes.flatten(), minlength=self.config.codes))
        metrics = {"loss": loss.detach(), "mse": mse.detach(), "psnr": torch.tensor(self.psnr(float(mse.detach())))}
        dead = torch.tensor(float(self.quantizers[-1].dead_codes()))  # before this step's update
        return loss, {**metrics, "perplexity": torch.tensor(usage), "dead": dead}

    def after_step(self) -> None:
        for quantizer in self.quantizers:
            quantizer.update()

    @torch.no_grad()
    def evaluation_sums(self, x: Tensor, cond: Tensor | None) -> dict[str, float]:
        """Squared errors, commitments (per example) and the bottom level's code counts."""
        recon, levels = self(self.check_images(x))
        errors = (recon.float() - self.scale(x)).pow(2).flatten(1).mean(1)
        sums = {"mse": float(errors.double().sum())}
        sums["commitment"] = float(sum(q.commitment for q in levels)) * len(x)
        for level, q in enumerate(levels):
            counts = torch.bincount(q.codes.flatten(), minlength=self.config.codes)
            sums.update({f"count/{level}/{k}": float(n) for k, n in enumerate(counts.tolist())})
        return sums

    def evaluation_result(self, sums: dict[str, float], examples: int) -> dict[str, float]:
        """loss, mse (in [-1, 1] scale), psnr (dB), and per level (top first) the codes' perplexity, the share of
        the K codes used and the codes the moving averages hold dead."""
        mse = sums["mse"] / examples
        out = {"loss": mse + self.config.commitment * sums["commitment"] / examples, "mse": mse, "psnr": self.psnr(mse)}
        for level, quantizer in enumerate(self.quantizers):
            counts = torch.tensor([sums[f"count/{level}/{k}"] for k in range(self.config.codes)])
            suffix = "" if level == len(self.quantizers) - 1 else "_top"  # the bottom level's figures unmarked
            out[f"perplexity{suffix}"] = perplexity(counts)
            out[f"usage{suffix}"] = float((counts > 0).double().mean())
            out[f"dead{suffix}"] = float(quantizer.dead_codes())
        return out
