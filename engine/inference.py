"""Inference over a whole split, sharded over ranks, with outputs gathered back in input order; the evaluation loop."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader

from core.errors import ToolkitError
from dataset.batching import BucketBatchSampler
from engine.distributed import DistributedContext, SharedFailure, gather_objects
from engine.progress import progress_bar
from engine.task_protocol import InputSource


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
    DataLoader workers; rank 0 shows a progress bar. A :class:`ToolkitError` (bad input) on any rank
    is raised on every rank, so none is left waiting for the others.
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
    local: list[tuple[int, Any]] = []
    failure: ToolkitError | None = None
    with progress_bar(loader, desc=description, enabled=context.is_main, leave=False) as batches:
        for indices, batch in zip(sampler, batches, strict=True):
            try:
                with context.precision.autocast():
                    local += zip(indices, run_batch(batch), strict=True)
            except ToolkitError as error:  # bad input in this rank's share: every rank stops with its message
                failure = error
                break
    shards = gather_objects((local, None if failure is None else str(failure)))
    failures = [message for _, message in shards if message is not None]
    if failure is not None and not context.is_distributed:
        raise failure
    if failures:
        raise SharedFailure(failures[0])
    outputs: list[Any] = [None] * len(lengths)
    for shard, _ in shards:
        for index, output in shard:
            outputs[index] = output
    return outputs


@dataclass
class SplitOutputs:
    """One output per example, in the order of the examples, and what their inputs met (summed)."""

    outputs: list[Any]
    input_counts: dict[str, int]


@torch.no_grad()
def infer_split(
    model: torch.nn.Module,
    inputs: InputSource,
    examples: list,
    split: str,
    batch_size: int,
    step: Callable[[dict, Any, torch.Tensor], list[Any]],
    context: DistributedContext,
    description: str,
) -> SplitOutputs:
    """The evaluation loop of every stage: ``step(batch, inputs, lengths)`` over ``examples`` in eval mode.

    Batches come from ``inputs`` (an unreadable input is an error naming the ``split`` sample), are
    sharded over ranks, and every rank gets all outputs in the order of ``examples``, with the
    input source's counts of them (:meth:`~engine.task_protocol.InputSource.input_counts`);
    ``model``'s train/eval mode is restored afterwards.
    """
    was_training = model.training
    model.eval()

    def run_batch(batch: dict) -> list[Any]:
        inputs.readable(batch, split, None)
        outputs = step(batch, *inputs.network_input(batch, training=False))
        return list(zip(outputs, inputs.input_counts(batch), strict=True))

    try:
        pairs = sharded_inference(
            inputs.dataset(examples, training=False),
            [inputs.length(e) for e in examples],
            batch_size,
            inputs.collator(),
            run_batch,
            context,
            description,
            inputs.num_workers,
        )
    finally:
        model.train(was_training)
    counts: dict[str, int] = {}
    for _, example_counts in pairs:
        for key, value in example_counts.items():
            counts[key] = counts.get(key, 0) + value
    return SplitOutputs([output for output, _ in pairs], counts)
