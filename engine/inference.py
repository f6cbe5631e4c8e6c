"""Inference over a whole split, sharded over ranks, with outputs gathered back in input order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tqdm import tqdm

from dataset.batching import BucketBatchSampler
from engine.distributed import DistributedContext, gather_objects


def sharded_inference(
    lengths: list[int],
    batch_size: int,
    run_batch: Callable[[list[int]], list[Any]],
    context: DistributedContext,
    description: str,
) -> list[Any]:
    """Call ``run_batch`` on length-sorted batches of indices; every rank gets all outputs in order.

    ``run_batch(indices)`` returns one output per index. Each rank handles every
    ``world_size``-th batch; rank 0 shows a progress bar.
    """
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False, rank=context.rank, world_size=context.world_size)
    local: list[tuple[int, Any]] = []
    for indices in tqdm(sampler, desc=description, disable=not context.is_main, leave=False, dynamic_ncols=True):
        local += zip(indices, run_batch(indices), strict=True)
    outputs: list[Any] = [None] * len(lengths)
    for shard in gather_objects(local):
        for index, output in shard:
            outputs[index] = output
    return outputs
