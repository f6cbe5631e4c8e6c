"""torchrun process-group setup and the few collective helpers training and evaluation need."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistributedContext:
    """This process's rank, the world size and the device it computes on."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed() -> DistributedContext:
    """Join the torchrun process group (NCCL on GPU, gloo on CPU) or run as a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistributedContext(rank, world_size, device)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def gather_objects(obj: Any) -> list[Any]:
    """``obj`` from every rank, in rank order (a one-element list when not distributed)."""
    if not dist.is_initialized():
        return [obj]
    gathered: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def replicas_identical(model: torch.nn.Module) -> bool:
    """Whether every rank holds bit-identical parameters."""
    with torch.no_grad():
        checksum = [float(p.double().sum()) + float((p.double() ** 2).sum()) for p in model.parameters()]
    return all(other == checksum for other in gather_objects(checksum))
