"""torchrun process-group setup and the few collective helpers training and evaluation need."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from core.errors import ToolkitError
from engine.device import Precision, resolve_device, resolve_precision

T = TypeVar("T")


@dataclass(frozen=True)
class DistributedContext:
    """This process's rank, the world size, the device it computes on and in which precision."""

    rank: int
    world_size: int
    device: torch.device
    precision: Precision

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def setup_distributed(device: str = "auto", precision: str = "auto") -> DistributedContext:
    """Join the torchrun process group (NCCL on GPU, gloo on CPU) or run as a single process.

    ``device`` and ``precision`` are the config's choices (see :mod:`engine.device`); too few GPUs
    for the ranks on this node is an error raised before the process group is joined.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world_size = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    resolved = resolve_device(device, local_rank, local_world_size)
    if resolved.type == "cuda":
        torch.cuda.set_device(resolved)
    if world_size > 1 and not dist.is_initialized():
        backend = {"backend": "nccl", "device_id": resolved} if resolved.type == "cuda" else {"backend": "gloo"}
        dist.init_process_group(store=_attempt_store(), rank=rank, world_size=world_size, **backend)
    return DistributedContext(rank, world_size, resolved, resolve_precision(precision, resolved))


def restart_count() -> int:
    """How many times ``torchrun --max-restarts N`` has restarted this job after a rank failed (0: first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


def _attempt_store() -> dist.Store:
    """torchrun's key-value store, with keys of their own for this attempt.

    torchrun keeps its store across restarts, and the process group of a restarted job would read the
    addresses the dead attempt's ranks published and fail to connect (seen with gloo on torch 2.13;
    pytorch/pytorch#167288 reports it for NCCL).
    """
    store, _, _ = next(dist.rendezvous("env://"))
    return dist.PrefixStore(f"attempt_{restart_count()}", store)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


class SharedFailure(ToolkitError):
    """A failure every rank raises at the same point (see :func:`run_on_main`), so all can leave together."""


def run_on_main(step: Callable[[], T]) -> T:
    """Run ``step`` on rank 0 while the other ranks wait, and give every rank its result.

    If it fails, every rank raises its message: a preparation error on rank 0 (corrupt annotations,
    say) ends all ranks at once with the same message instead of leaving them at a barrier until the
    process-group timeout. Single-process runs raise the error itself.
    """
    result: T | None = None
    failure: str | None = None
    cause: Exception | None = None
    try:
        if not dist.is_initialized() or dist.get_rank() == 0:
            result = step()
    except Exception as error:
        if not dist.is_initialized():
            raise
        failure = str(error) if isinstance(error, ToolkitError | OSError) else f"{type(error).__name__}: {error}"
        cause = error
    if dist.is_initialized():
        box = [(result, failure)]
        dist.broadcast_object_list(box, src=0)
        result, failure = box[0]
    if failure is not None:
        raise SharedFailure(failure) from cause
    return result


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
