"""What a stage is to the trainer, prediction, extraction and translation: the :class:`Task` protocol.

A task owns its data (splits, the training dataset and its collator), builds its model, computes
the training loss and evaluates a model on a split. The trainer and prediction use nothing else,
so a new stage is a class with these members registered in :mod:`engine.tasks`.

Each stage task is a small composition of parts, each defined once and shared:

- an input source (:mod:`engine.input_sources`: gloss ids, videos, stored features),
- a network builder (:mod:`modelling.builders`),
- a loss (:mod:`modelling.recognition`'s CTC, the translator's cross-entropy),
- a decoder (:mod:`engine.decoders`: CTC beam search, text generation),
- a scorer (:mod:`evaluation.scoring`: WER, BLEU and ROUGE-L),

joined by the one evaluation loop, :func:`engine.inference.infer_split`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from core.config import Config
from dataset.gloss_text import EncodedSplit
from dataset.video_reader import VideoSource
from engine.distributed import DistributedContext
from evaluation.report import EvaluationResult


class EpochDataset(Protocol):
    """A DataLoader dataset told each epoch's number (its per-epoch randomness, if any, depends on it)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def set_epoch(self, epoch: int) -> None: ...


@runtime_checkable
class Task(Protocol):
    """One stage (Gloss2Text, Sign2Gloss, Sign2Text) as the trainer and prediction see it."""

    config: Config
    context: DistributedContext
    metric: str  # the key of ``evaluate``'s metrics that picks the best checkpoint
    higher_is_better: bool
    training_counts: Counter  # what training met in its input (skipped videos, ...), logged at the end
    videos: VideoSource | None  # where the task reads its videos; None: it reads none

    def prepare(self, create: bool) -> None:
        """Load vocabularies and tokenizers; first build what is missing when ``create`` (a training run)."""

    def split(self, split: str) -> EncodedSplit:
        """The encoded examples of ``split`` and their counts."""

    def dataset(self, split: str, training: bool = True) -> EpochDataset:
        """What the DataLoader of ``split`` iterates over."""

    def collator(self) -> Callable[[list], dict]:
        """Turns a list of dataset items into a batch."""

    def example_length(self, example: Any) -> int:
        """An example's length, for length-bucketed batches."""

    def build_model(self) -> nn.Module:
        """The stage's network, initialised as the config says."""

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must match to load into this task (task, vocabularies, input)."""

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> torch.Tensor:
        """The training loss of one batch."""

    def evaluate(self, model: nn.Module, split: str) -> EvaluationResult:
        """Scores, hypotheses and counts of ``model`` on ``split`` (all ranks take part)."""

    def comparisons(self, split: str) -> list[EvaluationResult]:
        """Further rows prediction reports beside the model's (Sign2Text: the cascade), often none."""
