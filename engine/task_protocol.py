"""What a task is to the training runtime, prediction, extraction and translation: the :class:`Task` protocol.

A task owns its data (splits, the training dataset, its batches and collator), builds its model,
computes the training loss and evaluates a model on a split. The runtime uses nothing else, so a
new task is a class with these members, registered with
:func:`engine.tasks.registry.register_task` (:class:`engine.tasks.base.StageTask` gives the
members every stage shares).

Each stage task is a small composition of parts, each defined once and shared:

- an input source (:class:`InputSource`; :mod:`engine.tasks.input_sources`: gloss ids, videos,
  stored features),
- a network built from an encoder (:mod:`modelling.encoders`) and the builders of :mod:`modelling.builders`,
- a loss (:mod:`modelling.recognition`'s CTC, the translator's cross-entropy),
- a decoder (:mod:`engine.tasks.decoders`: CTC beam search, text generation),
- a scorer (:mod:`evaluation.scoring`: WER, BLEU and ROUGE-L),

joined by the one evaluation loop, :func:`engine.inference.infer_split`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, Protocol, runtime_checkable

import torch
from torch import nn

from core.config import Config
from dataset.gloss_text import EncodedSplit
from engine.distributed import DistributedContext
from evaluation.report import EvaluationResult


class InputSource(Protocol):
    """One kind of network input: the DataLoader side and the device side.

    ``network_input`` may give any inputs its network's encoder takes: a tensor, or a dict of named
    tensors for a network of several streams.
    """

    num_workers: int  # DataLoader workers for this input (0: already in memory)

    def dataset(self, examples: list, training: bool) -> EpochDataset:
        """A DataLoader dataset over ``examples``."""

    def collator(self) -> Callable[[list], dict]:
        """Turns a list of dataset items into a batch."""

    def length(self, example: Any) -> int:
        """An example's input length, for length-sorted batches."""

    def network_input(self, batch: dict, training: bool) -> tuple[Any, torch.Tensor]:
        """The batch's inputs on the device, augmented when ``training``, and their lengths (kept on the
        host, where CTC reads them) or attention mask (on the device)."""

    def readable(self, batch: dict, split: str, counts: Counter | None) -> bool:
        """Whether the batch has input to run on; training (``counts`` given) counts what was skipped,
        evaluation raises on it."""

    def input_counts(self, batch: dict) -> list[dict[str, int]]:
        """What each example of an evaluation batch met in its input (a short video padded, ...), for the report."""

    def blank_batch(self, label_ids: list[int]) -> dict:
        """A batch of one blank input, for the weightless pass DDP needs when no input of a batch was readable."""

    def check_training_inputs(self, names: list[str]) -> None:
        """One clear error, before a run writes anything, when none of the named train samples' inputs is there."""


class EpochDataset(Protocol):
    """A DataLoader dataset told each epoch's number (its per-epoch randomness, if any, depends on it)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Any: ...

    def set_epoch(self, epoch: int) -> None: ...


class EpochBatchSampler(Protocol):
    """Training batches (lists of example indices) of this rank, an epoch at a time, resumable mid-epoch."""

    def __iter__(self) -> Iterator[list[int]]: ...

    def __len__(self) -> int:
        """This rank's batches per epoch."""

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Select the epoch's batches; iteration starts at this rank's batch ``start_batch`` (resume)."""


class TrainingLoss(NamedTuple):
    """A batch's training loss and its named parts (unweighted; none when the loss has one part), each logged."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]


@runtime_checkable
class Task(Protocol):
    """One task (a stage: Gloss2Text, Sign2Gloss, Sign2Text; or a plug-in's) as the runtime sees it."""

    name: str  # its registered name, the config's ``task``
    config: Config
    context: DistributedContext
    metric: str  # the key of ``evaluate``'s metrics that picks the best checkpoint
    higher_is_better: bool  # of ``metric``
    training_counts: Counter  # what training met in its input (skipped videos, ...), logged at the end

    def check_training_data(self) -> None:
        """One clear error, before a training run writes anything, when there is nothing to train on."""

    def prepare(self, create: bool) -> None:
        """Load vocabularies and tokenizers; first build what is missing when ``create`` (a training run)."""

    def split(self, split: str) -> EncodedSplit:
        """The encoded examples of ``split`` and their counts."""

    def dataset(self, split: str, training: bool = True) -> EpochDataset:
        """What the DataLoader of ``split`` iterates over."""

    def batch_sampler(self, split: str, training: bool) -> EpochBatchSampler:
        """This rank's batches of ``split`` (training: what the trainer iterates over)."""

    def collator(self) -> Callable[[list], dict]:
        """Turns a list of dataset items into a batch."""

    def build_model(self) -> nn.Module:
        """The task's network, initialised as the config says."""

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint must match to load into this task (task, vocabularies, input)."""

    def loss(self, model: nn.Module, batch: dict, device: torch.device) -> TrainingLoss:
        """The training loss of one batch and its parts."""

    def evaluate(self, model: nn.Module, split: str) -> EvaluationResult:
        """Scores, hypotheses and counts of ``model`` on ``split`` (all ranks take part)."""

    def comparisons(self, split: str) -> list[EvaluationResult]:
        """Further rows prediction reports beside the model's (Sign2Text: the cascade), often none."""
