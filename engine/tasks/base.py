"""The skeleton every stage task shares; a stage supplies its input source, encoding, model, loss and evaluation."""

from __future__ import annotations

from collections import Counter

from core.config import Config
from core.run_directory import RunDirectory
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.batching import BucketBatchSampler
from dataset.gloss_text import EncodedSplit
from engine.distributed import DistributedContext
from engine.task_protocol import EpochBatchSampler, EpochDataset, InputSource
from engine.tasks.data_preparation import check_training_data
from evaluation.report import EvaluationResult


class StageTask:
    """The members of :class:`~engine.task_protocol.Task` that every stage has in common.

    A subclass sets ``metric``, ``higher_is_better`` and ``self.inputs`` (its
    :class:`~engine.task_protocol.InputSource`), and implements ``prepare``, :meth:`encode`,
    ``build_model``, ``checkpoint_metadata``, ``loss`` and ``evaluate``.
    """

    name: str  # set by register_task
    metric: str
    higher_is_better: bool
    inputs: InputSource

    def __init__(self, config: Config, context: DistributedContext) -> None:
        self.config, self.context = config, context
        self.run = RunDirectory.of(config)
        self.training_counts: Counter = Counter()  # what training met in its input
        self._splits: dict[str, EncodedSplit] = {}

    def check_training_data(self) -> None:
        check_training_data(self.config, self.inputs)

    def encode(self, split: str) -> tuple[PreparedSplit, EncodedSplit]:
        """The samples of ``split`` as read (with what reading skipped) and encoded."""
        raise NotImplementedError

    def split(self, split: str) -> EncodedSplit:
        """The encoded examples of ``split`` (cached), counted: samples, then what reading and encoding skipped."""
        if split not in self._splits:
            prepared, encoded = self.encode(split)
            encoded.counts = Counter({"samples": len(encoded.examples)}) + prepared.skipped + encoded.counts
            self._splits[split] = encoded
        return self._splits[split]

    def dataset(self, split: str, training: bool = True) -> EpochDataset:
        """What the DataLoader of ``split`` iterates over (augmented when ``training``)."""
        return self.inputs.dataset(self.split(split).examples, training)

    def collator(self):
        return self.inputs.collator()

    def example_length(self, example) -> int:
        """An example's length, for length-bucketed batches."""
        return self.inputs.length(example)

    def batch_sampler(self, split: str, training: bool) -> EpochBatchSampler:
        """Batches of similar length (:class:`~dataset.batching.BucketBatchSampler`), shuffled when ``training``."""
        cfg = self.config.training
        return BucketBatchSampler(
            [self.example_length(e) for e in self.split(split).examples],
            cfg.batch_size,
            shuffle=training,
            seed=cfg.seed,
            rank=self.context.rank,
            world_size=self.context.world_size,
            bucket_size=cfg.bucket_size,
        )

    @staticmethod
    def comparisons(split: str) -> list[EvaluationResult]:
        """No further rows beside the model's."""
        return []


class TranslationTask(StageTask):
    """A stage that writes text (Gloss2Text, Sign2Text): scored by BLEU-4; a gloss vocabulary and a text tokenizer."""

    metric = "bleu4"
    higher_is_better = True

    def __init__(self, config: Config, context: DistributedContext) -> None:
        super().__init__(config, context)
        self.vocab: GlossVocabulary | None = None  # loaded by prepare
        self.tokenizer = None  # the text tokenizer, loaded by prepare
