"""What a stage reads: gloss ids, videos or stored features, from encoded examples to network input.

Each class follows :class:`engine.task_protocol.InputSource`: it turns a split's encoded examples
into a DataLoader dataset and batches, and a batch into the ``(inputs, lengths)`` its network takes
on the device. It also decides what a batch whose input could not be read means (counted and
skipped in training, an error in evaluation), what a blank batch is, and whether a run's train
inputs are there at all. A new input stream is a new class of this kind, in a module of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import torch
from torch import nn

from core.errors import ToolkitError
from core.host_transfer import to_device
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.batching import InMemoryExamples, equal_length_batches
from dataset.feature_store import load_store
from dataset.gloss_text import EncodedSplit, GlossTextCollator, GlossTextExample
from dataset.sign_text import FeatureTextExample, attach_features, collate_features
from dataset.sign_video import VideoExample, attach_videos, blank_video_batch
from dataset.video_preprocessing import VideoPreprocessing
from dataset.video_reader import VideoError
from engine.run_logging import get_logger
from modelling.encoders import EncoderConfig, StoredFeatures, stored_features_of


class InMemoryInput:
    """What inputs held in memory share: nothing to skip, count or look for on disk."""

    num_workers = 0  # already in memory

    @staticmethod
    def dataset(examples: list, training: bool) -> InMemoryExamples:
        return InMemoryExamples(examples)

    @staticmethod
    def readable(batch: dict, split: str, counts: Counter | None) -> bool:
        return True

    @staticmethod
    def input_counts(batch: dict) -> list[dict[str, int]]:
        return [{} for _ in batch["names"]]

    @staticmethod
    def check_training_inputs(names: list[str]) -> None:
        """Nothing to look for: what is in memory was read already."""

    def blank_batch(self, label_ids: list[int]) -> dict:
        raise NotImplementedError(f"{type(self).__name__} is always readable: no batch needs a blank stand-in")


class GlossInput(InMemoryInput):
    """Gloss ids framed for the translator (Gloss2Text); its padding ids come with the vocabularies."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.gloss_pad_id: int | None = None
        self.text_pad_id: int | None = None

    def use_vocabularies(self, vocab: GlossVocabulary, text_pad_id: int) -> None:
        """The padding ids of the gloss vocabulary and the text tokenizer (known once the task prepared)."""
        self.gloss_pad_id, self.text_pad_id = vocab.pad_id, text_pad_id

    def collator(self) -> GlossTextCollator:
        if self.gloss_pad_id is None:
            raise ToolkitError("the gloss input has no vocabularies yet: prepare the task first")
        return GlossTextCollator(self.gloss_pad_id, self.text_pad_id)

    @staticmethod
    def length(example: GlossTextExample) -> int:
        return len(example.translator_input)

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Gloss ids and their attention mask."""
        return to_device(batch["translator_input"], self.device), to_device(batch["translator_mask"], self.device)


class FeatureInput(InMemoryInput):
    """Features stored by extract_feature.py under ``directory`` (Sign2Text on features)."""

    def __init__(self, directory: str, device: torch.device) -> None:
        self.directory, self.device = directory, device

    def attach(self, encoded: EncodedSplit, prepared: PreparedSplit, split: str) -> EncodedSplit:
        """Each text example with its stored features; samples without are skipped in train, an error otherwise."""
        store = load_store(self.directory, split)
        return attach_features(encoded, store["features"], split, skip_missing=split == "train")

    @staticmethod
    def collator() -> Callable[[list], dict]:
        return collate_features

    @staticmethod
    def length(example: FeatureTextExample) -> int:
        return len(example.features)

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return to_device(batch["features"], self.device), batch["lengths"]

    @staticmethod
    def encoder(config: EncoderConfig, pretrained: bool = False) -> StoredFeatures:
        """The features are the output of the encoder of ``config``, computed apart: passed through."""
        return stored_features_of(config)

    @staticmethod
    def metadata() -> dict:
        """What a checkpoint of a network on this input records about it."""
        return {"input": "features"}


class VideoInput:
    """Videos read, sampled and prepared by :class:`~dataset.video_preprocessing.VideoPreprocessing`."""

    def __init__(self, preprocessing: VideoPreprocessing, device: torch.device, num_workers: int) -> None:
        self.preprocessing, self.device, self.num_workers = preprocessing, device, num_workers

    def dataset(self, examples: list[VideoExample], training: bool):
        return self.preprocessing.dataset(examples, training)

    def attach(self, encoded: EncodedSplit, prepared: PreparedSplit, split: str) -> EncodedSplit:
        """Each text example with its video; missing videos are skipped in train, an error otherwise."""
        frames = {s.name: s.num_frames for s in prepared.samples}
        return attach_videos(encoded, frames, split, self.preprocessing.source, split == "train")

    def collator(self) -> Callable[[list], dict]:
        return self.preprocessing.collate

    @staticmethod
    def length(example: VideoExample) -> int:
        return example.length

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        videos = self.preprocessing.network_input(batch["frames"], self.device, training)
        return videos, batch["lengths"]

    def equal_length_inputs(self, batch: dict) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """The batch's evaluation inputs in groups of equal frame count, none padded: (rows, videos, lengths)."""
        for rows in equal_length_batches(batch["lengths"].tolist()):
            length = int(batch["lengths"][rows[0]])
            clips = batch["frames"][rows, :length]
            yield rows, self.preprocessing.network_input(clips, self.device, training=False), batch["lengths"][rows]

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
    def input_counts(batch: dict) -> list[dict[str, int]]:
        """Each video shorter than ``min_frames`` was padded (its frames repeated) to it."""
        return [{"short videos padded": int(padded)} for padded in batch["padded"]]

    @staticmethod
    def blank_batch(label_ids: list[int]) -> dict:
        """A batch of one black clip."""
        return blank_video_batch(label_ids)

    def check_training_inputs(self, names: list[str]) -> None:
        """None of the train videos under ``data.video.root`` is an error naming where the first would be."""
        videos = self.preprocessing.source
        locations = [videos.location("train", name) for name in names]
        if locations and len(videos.missing(locations)) == len(locations):
            raise ToolkitError(
                f"data.video: none of the {len(locations)} train videos is under {videos.root} "
                f"(the first would be {locations[0]}, from data.video.path '{videos.template}')"
            )

    @staticmethod
    def encoder(config: EncoderConfig, pretrained: bool = False) -> nn.Module:
        """The encoder of ``config`` over the videos (its pretrained weights when ``pretrained``)."""
        return config.build(pretrained)

    @staticmethod
    def metadata() -> dict:
        """What a checkpoint of a network on this input records about it."""
        return {"input": "video"}
