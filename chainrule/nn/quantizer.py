"""Vector quantisation with a codebook learned by exponential moving averages (van den Oord, Vinyals, Kavukcuoglu
2017, arXiv 1711.00937, appendix A.1; as used by VQ-VAE-2, Razavi et al. 2019, arXiv 1906.00446).

Each D-dimensional vector of the encoder's output map is replaced by its nearest of K code vectors. Gradients pass
straight through the quantisation to the encoder; a commitment loss ||z − sg(e)||² keeps the encoder near its codes.
The code vectors themselves get no gradient: each is the moving average of the encoder vectors assigned to it,
e_k = m_k / N_k with N_k ← γ N_k + (1 − γ) n_k and m_k ← γ m_k + (1 − γ) Σ z over its n_k vectors (N Laplace-smoothed).

The forward pass only records the batch's assignment sums; `update()` applies them, after the optimizer step (so a
step rejected for a non-finite loss leaves the codebook as it was). Under torch.distributed the sums are reduced over
processes first, so every process keeps the same codebook. A code whose average count N_k falls below
`dead_below` is dead: `update()` restarts it at a random encoder vector of the batch (the first update restarts
every code, which initialises the codebook from data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

EPSILON = 1e-5  # the Laplace smoothing of the counts


@dataclass
class Quantized:
    """What quantising a map gives."""

    straight: Tensor  # float (B, D, H, W): the code vectors, with the encoder's gradient passed straight through
    codes: Tensor  # long (B, H, W): the chosen code of every position
    commitment: Tensor  # scalar: mean ||z − sg(e)||² per element


class VectorQuantizer(nn.Module):
    """K code vectors of dimension D, learned by moving averages."""

    def __init__(self, codes: int, dim: int, decay: float = 0.99, dead_below: float = 1.0) -> None:
        super().__init__()
        self.codes, self.dim, self.decay, self.dead_below = codes, dim, decay, dead_below
        self.register_buffer("codebook", torch.randn(codes, dim) * 0.1)
        self.register_buffer("counts", torch.zeros(codes))  # N_k
        self.register_buffer("sums", torch.zeros(codes, dim))  # m_k
        self.pending: tuple[Tensor, Tensor, Tensor] | None = None  # the last training batch's (n, Σz, z)

    def nearest(self, flat: Tensor) -> Tensor:
        """The nearest code of each row of flat (N, D): long (N,)."""
        book = self.codebook
        distances = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ book.t() + book.pow(2).sum(1)[None]
        return distances.argmin(1)

    def forward(self, z: Tensor) -> Quantized:
        """Quantise z (B, D, H, W); in training mode, record the batch's sums for `update`."""
        b, d, h, w = z.shape
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, d)  # (B·H·W, D), in fp32 even under autocast
        codes = self.nearest(flat.detach())
        chosen = self.codebook[codes]
        if self.training:
            with torch.no_grad():
                assigned = F.one_hot(codes, self.codes).float()  # (N, K)
                self.pending = (assigned.sum(0), assigned.t() @ flat.detach(), flat.detach())
        commitment = F.mse_loss(flat, chosen)
        straight = flat + (chosen - flat).detach()
        return Quantized(straight.view(b, h, w, d).permute(0, 3, 1, 2), codes.view(b, h, w), commitment)

    def embed(self, codes: Tensor) -> Tensor:
        """long (B, H, W) → the code vectors (B, D, H, W)."""
        return self.codebook[codes].permute(0, 3, 1, 2)

    @torch.no_grad()
    def update(self) -> None:
        """Apply the last training batch's sums to the moving averages and restart dead codes."""
        if self.pending is None:
            return
        counts, sums, vectors = self.pending
        self.pending = None
        distributed = dist.is_available() and dist.is_initialized()
        if distributed:
            dist.all_reduce(counts)
            dist.all_reduce(sums)
        self.counts.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.sums.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        total = self.counts.sum()
        smoothed = (self.counts + EPSILON) / (total + self.codes * EPSILON) * total
        self.codebook.copy_(self.sums / smoothed[:, None].clamp_min(EPSILON))
        self.restart(vectors, distributed)

    def restart(self, vectors: Tensor, distributed: bool = False) -> None:
        """Move each dead code to a random vector of `vectors` (N, D) (rank 0's choice under torch.distributed)."""
        dead = (self.counts < self.dead_below).to(torch.uint8)
        if distributed:  # every process restarts the same codes at the same vectors
            dist.broadcast(dead, 0)
        dead = dead.bool()
        chosen = int(dead.sum())
        if not chosen:
            return
        picks = vectors[torch.randint(0, len(vectors), (chosen,), device=vectors.device)]
        if distributed:
            dist.broadcast(picks, 0)
        self.codebook[dead] = picks
        self.counts[dead] = self.dead_below
        self.sums[dead] = picks * self.dead_below

    def dead_codes(self) -> int:
        """Codes whose average count is below `dead_below` (restarted at the next update)."""
        return int((self.counts < self.dead_below).sum())


def perplexity(counts: Tensor) -> float:
    """exp(entropy) of the code usage `counts` (K,): K when all codes are used equally, 1 for a single code."""
    p = counts.double() / counts.sum().clamp_min(1)
    return float(torch.exp(-(p * p.clamp_min(1e-30).log()).sum()))
