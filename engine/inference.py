"""Inference over a whole split, sharded over ranks, with outputs gathered back in input order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from dataset.batching import BucketBatchSampler
from engine.distributed import DistributedContext, gather_objects


def sharded_inference(
    dataset: Sequence,
    lengths: list[int],
    batch_size: int,
    collate: Callable[[list], dict],
    run_batch: Callable[[dict], list[Any]],
    context: DistributedContext,
    description: str,
    num_workers: int = 0,
) -> list[Any]:
    """Call ``run_batch`` on collated length-sorted batches of ``dataset``; every rank gets all outputs in order.

    ``run_batch(batch)`` returns one output per item; it runs under the context's precision
    (autocast). Each rank handles every ``world_size``-th batch, loaded by ``num_workers``
    DataLoader workers; rank 0 shows a progress bar.
    """
    sampler = BucketBatchSampler(lengths, batch_size, shuffle=False, rank=context.rank, world_size=context.world_size)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate,
        num_workers=num_workers,
        pin_memory=context.device.type == "cuda",
        generator=torch.Generator().manual_seed(0),  # leaves the global RNG (dropout, resume) untouched
    )
    batches = tqdm(loader, desc=description, disable=not context.is_main, leave=False, dynamic_ncols=True)
    local: list[tuple[int, Any]] = []
    for indices, batch in zip(sampler, batches, strict=True):
        with context.precision.autocast():
            local += zip(indices, run_batch(batch), strict=True)
    outputs: list[Any] = [None] * len(lengths)
    for shard in gather_objects(local):
        for index, output in shard:
            outputs[index] = output
    return outputs
