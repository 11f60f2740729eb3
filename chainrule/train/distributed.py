"""Data-parallel training over several processes, as launched by `torchrun`.

`torchrun --nproc-per-node N -m chainrule train ...` starts N processes and describes the group in the environment
(WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT; several nodes through torchrun's rendezvous). Each process
joins the group (gloo on CPU, NCCL on CUDA, one GPU per process), wraps the model in DistributedDataParallel and
trains on its shard of every batch: with per-process batch B, one step of N processes sees the same N·B examples as
one process with batch N·B, and averages the same gradient. Only rank 0 writes the run directory; losses and
evaluation totals are reduced across ranks. Started without torchrun, nothing here does anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn


@dataclass(frozen=True)
class Ranks:
    """This process's place in the group: rank r of `world` processes (a single process: 0 of 1)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """The process that writes files and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def setup(device: str) -> tuple[Ranks, str]:
    """Join the process group described by torchrun's environment variables, if any.

    Returns:
        (ranks, device): the device is "cuda:LOCAL_RANK" for CUDA runs under torchrun, else `device` unchanged.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Ranks(), device
    cuda = device.startswith("cuda")
    if cuda:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return Ranks(dist.get_rank(), dist.get_world_size()), device


def close() -> None:
    """Leave the process group (at the end of a distributed run).

    Every rank first waits for the others: a rank that tore its gloo threads down while rank 0 was still writing the
    run directory could abort at exit ("terminate called without an active exception").
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def total(values: list[float], ranks: Ranks, device: torch.device | str = "cpu") -> list[float]:
    """Element-wise sum of `values` over all ranks (the values themselves in a single process)."""
    if not ranks.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def largest(value: float, ranks: Ranks, device: torch.device | str = "cpu") -> float:
    """The largest `value` over all ranks."""
    if not ranks.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t)


def share(obj: Any, ranks: Ranks) -> Any:
    """Rank 0's `obj` on every rank (picklable objects)."""
    if not ranks.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wait(ranks: Ranks) -> None:
    """Barrier: every rank reaches this point before any goes on."""
    if ranks.distributed:
        dist.barrier()


class Objective(nn.Module):
    """`model.objective` (the loss and the batch's metrics) as a module's forward, so that DistributedDataParallel
    (which synchronises the gradients of what runs through its forward) can wrap it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, cond: Tensor | None, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        return self.model.objective(x, cond, step)


class LogLikelihood(nn.Module):
    """`model.training_log_prob` as a module's forward (the throughput benchmark times it, compiled or not)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, cond: Tensor | None, step: int) -> Tensor:
        return self.model.training_log_prob(x, cond, step)


def wrap(model: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """The module whose forward gives the training objective: DDP-wrapped when distributed."""
    module = Objective(model)
    if not ranks.distributed:
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)
