"""What a stage reads: gloss ids, videos or stored S3D features, from encoded examples to network input.

An input source turns a split's encoded examples into a DataLoader dataset and batches, and a
batch into the ``(inputs, lengths)`` its network takes on the device. It also decides what a batch
whose input could not be read means: counted and skipped in training, an error in evaluation.
A task is its input source plus a network, a loss, a decoder and a scorer
(:mod:`engine.task_protocol`); a new input stream is a new class here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Protocol

import torch

from core.host_transfer import to_device
from core.vocabulary import GlossVocabulary
from dataset.batching import InMemoryExamples
from dataset.gloss_text import GlossTextCollator
from dataset.sign_text import FeatureTextExample, collate_features
from dataset.sign_video import VideoExample, blank_video_batch
from dataset.video_preprocessing import VideoPreprocessing
from dataset.video_reader import VideoError
from engine.run_logging import get_logger


class InputSource(Protocol):
    """One kind of network input: the DataLoader side and the device side."""

    num_workers: int  # DataLoader workers for this input (0: already in memory)

    def dataset(self, examples: list, training: bool):
        """A DataLoader dataset over ``examples`` with ``set_epoch(epoch)``."""

    def collator(self) -> Callable[[list], dict]:
        """Turns a list of dataset items into a batch."""

    def length(self, example) -> int:
        """An example's input length, for length-sorted batches."""

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch's inputs on the device, augmented when ``training``, and their lengths (kept on the
        host, where CTC reads them) or attention mask (on the device)."""

    def readable(self, batch: dict, split: str, counts: Counter | None) -> bool:
        """Whether the batch has input to run on; training (``counts`` given) counts what was skipped,
        evaluation raises on it."""


class GlossInput:
    """Gloss ids framed for the translator (Gloss2Text): already in memory."""

    num_workers = 0

    def __init__(self, vocab: GlossVocabulary, text_pad_id: int, device: torch.device) -> None:
        self.vocab, self.text_pad_id, self.device = vocab, text_pad_id, device

    def dataset(self, examples: list, training: bool) -> InMemoryExamples:
        return InMemoryExamples(examples)

    def collator(self) -> GlossTextCollator:
        return GlossTextCollator(self.vocab.pad_id, self.text_pad_id)

    @staticmethod
    def length(example) -> int:
        return len(example.gloss_ids)

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Gloss ids and their attention mask."""
        return to_device(batch["gloss_ids"], self.device), to_device(batch["gloss_mask"], self.device)

    @staticmethod
    def readable(batch: dict, split: str, counts: Counter | None) -> bool:
        return True


class FeatureInput:
    """S3D features stored by extract_feature.py (Sign2Text on features): already in memory."""

    num_workers = 0

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @staticmethod
    def dataset(examples: list[FeatureTextExample], training: bool) -> InMemoryExamples:
        return InMemoryExamples(examples)

    @staticmethod
    def collator() -> Callable[[list], dict]:
        return collate_features

    @staticmethod
    def length(example: FeatureTextExample) -> int:
        return len(example.features)

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return to_device(batch["features"], self.device), batch["lengths"]

    @staticmethod
    def readable(batch: dict, split: str, counts: Counter | None) -> bool:
        return True


class VideoInput:
    """Videos read, sampled and prepared by :class:`~dataset.video_preprocessing.VideoPreprocessing`."""

    def __init__(self, preprocessing: VideoPreprocessing, device: torch.device, num_workers: int) -> None:
        self.preprocessing, self.device, self.num_workers = preprocessing, device, num_workers

    def dataset(self, examples: list[VideoExample], training: bool):
        return self.preprocessing.dataset(examples, training)

    def collator(self) -> Callable[[list], dict]:
        return self.preprocessing.collate

    @staticmethod
    def length(example: VideoExample) -> int:
        return example.length

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        videos = self.preprocessing.network_input(batch["frames"], self.device, training)
        return videos, batch["lengths"]

    @staticmethod
    def readable(batch: dict, split: str, counts: Counter | None) -> bool:
        """Training: unreadable videos are counted (and logged) and short ones counted; evaluation: an error."""
        if counts is None:
            if batch["skipped"]:
                name, reason = batch["skipped"][0]
                raise VideoError(f"{split} sample {name}: {reason}")
            return True
        for name, reason in batch["skipped"]:
            counts["unreadable videos skipped"] += 1
            get_logger().warning(
                "%s: skipped %s: %s (%d skipped so far)", split, name, reason, counts["unreadable videos skipped"]
            )
        counts["short videos padded"] += sum(batch["padded"])
        return batch["frames"] is not None

    @staticmethod
    def blank_batch(label_ids: list[int] | None = None) -> dict:
        """A batch of one black clip, for the weightless pass DDP needs when no video of a batch was readable."""
        return blank_video_batch(label_ids)
