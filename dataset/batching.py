"""Length-bucketed batches, sharded over distributed ranks, deterministic per (seed, epoch)."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length samples; each rank gets every ``world_size``-th batch.

    Training: shuffle samples, sort within buckets of ``bucket_size`` batches, shuffle the batch
    order. Evaluation (``shuffle=False``): batches of length-sorted samples. Every rank gets the
    same number of batches (the list is padded by repeating its first batches when training).
    """

    def __init__(
        self,
        lengths: list[int],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        bucket_size: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        self.lengths, self.batch_size, self.shuffle = lengths, batch_size, shuffle
        self.seed, self.rank, self.world_size, self.bucket_size = seed, rank, world_size, bucket_size
        self.epoch, self.start_batch = 0, 0

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's order; iteration starts at this rank's batch ``start_batch`` (resume)."""
        self.epoch, self.start_batch = epoch, start_batch

    def _batches(self) -> list[list[int]]:
        indices = list(range(len(self.lengths)))
        if not self.shuffle:
            indices.sort(key=lambda i: self.lengths[i])
            return [indices[i : i + self.batch_size] for i in range(0, len(indices), self.batch_size)]
        rng = random.Random(self.seed * 100_003 + self.epoch)
        rng.shuffle(indices)
        chunk = self.batch_size * self.bucket_size
        batches = []
        for start in range(0, len(indices), chunk):
            bucket = sorted(indices[start : start + chunk], key=lambda i: self.lengths[i])
            batches += [bucket[i : i + self.batch_size] for i in range(0, len(bucket), self.batch_size)]
        rng.shuffle(batches)
        remainder = -len(batches) % self.world_size
        return batches + batches[:remainder]

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._batches()[self.rank :: self.world_size][self.start_batch :]

    def __len__(self) -> int:
        """This rank's number of batches per epoch (computed without building them)."""
        n, chunk = len(self.lengths), self.batch_size * self.bucket_size
        if self.shuffle:
            total = n // chunk * self.bucket_size + math.ceil(n % chunk / self.batch_size)
            return math.ceil(total / self.world_size)
        total = math.ceil(n / self.batch_size)
        return len(range(self.rank, total, self.world_size))


def equal_length_batches(lengths: list[int], batch_size: int | None = None) -> list[list[int]]:
    """Positions into ``lengths`` grouped by equal length, shortest first, at most ``batch_size`` per group.

    An encoder run on each group pads nothing, so every sample's output is its own, whatever its batch.
    """
    groups: dict[int, list[int]] = defaultdict(list)
    for position, length in enumerate(lengths):
        groups[length].append(position)
    size = batch_size or len(lengths) or 1
    return [group[k : k + size] for _, group in sorted(groups.items()) for k in range(0, len(group), size)]


class InMemoryExamples(list):
    """Encoded examples held in memory as a DataLoader dataset; nothing in them varies per epoch."""

    def set_epoch(self, epoch: int) -> None:
        """The same items every epoch (a video dataset resamples its frames here)."""


def pad_in_time(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ``T_i×...`` as one float batch ``B×max T×...`` padded with zeros, and their lengths."""
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    padded = torch.zeros(len(sequences), int(lengths.max()), *sequences[0].shape[1:])
    for row, sequence in enumerate(sequences):
        padded[row, : len(sequence)] = sequence.float()
    return padded, lengths


def example_fields(examples: list) -> dict:
    """What a batch of recognition examples holds beside its input: names, CTC targets and (S2T's) label ids."""
    return {
        "names": [e.name for e in examples],
        "ctc_targets": [e.ctc_targets for e in examples],
        "label_ids": [e.label_ids for e in examples],
    }
