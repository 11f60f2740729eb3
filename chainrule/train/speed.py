"""Training speed options, shared by the trainer and the throughput benchmark so that both run the same step.

- `channels_last`: NHWC memory format for the weights of models with 2-D convolutions (oneDNN's preferred layout
  on CPU, tensor cores' on GPU); activations follow the weights' format.
- `compile`: `torch.compile` of the training forward (inductor: fused C++/OpenMP loops on CPU, Triton on GPU);
  pays off only after its compile time, so it is off by default.
- `fused`: the fused AdamW kernel (one kernel over all parameters instead of one per tensor), where torch has it.

None of them changes the likelihood beyond floating-point rounding; evaluation always runs the plain model.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def apply_memory_format(model: nn.Module, channels_last: bool) -> nn.Module:
    """The model with channels-last weights when asked for and useful (2-D convolutions present)."""
    if channels_last and has_conv2d(model):
        model.to(memory_format=torch.channels_last)
    return model


def matrices(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of two or more dimensions (embeddings, linear and convolution weights): what the weight decay
    and the `l2` penalty apply to, not biases, norms or other vectors."""
    return [p for p in model.parameters() if p.dim() >= 2]


def optimizer(
    model: nn.Module,
    lr: float,
    weight_decay: float = 0.0,
    fused: bool = False,
    betas: tuple[float, float] = (0.9, 0.999),
) -> torch.optim.AdamW:
    """AdamW with the weight decay on matrices (embeddings, linear and convolution weights: parameters of two or
    more dimensions) only, not on biases, norms or other vectors; fused when asked for (falls back to the default
    implementation, with a warning, where torch has no fused kernel for the parameters' device)."""
    params = list(model.parameters())
    groups = [
        {"params": matrices(model), "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    groups = [g for g in groups if g["params"]]
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=True)
        except (RuntimeError, ValueError) as err:
            log.warning("fused AdamW unavailable here (%s); using the default", str(err).splitlines()[0])
    return torch.optim.AdamW(groups, lr=lr, betas=betas)


def compiled(net: nn.Module, enabled: bool) -> nn.Module:
    """`torch.compile(net)` when enabled (the first steps compile; later ones run the compiled kernels)."""
    return torch.compile(net) if enabled else net
