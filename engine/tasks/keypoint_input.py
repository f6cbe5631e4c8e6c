"""The keypoint input of a stage: each split's keypoint file (``data.keypoints``), read into memory.

It follows :class:`engine.task_protocol.InputSource`: a split's samples become
:class:`~dataset.sign_keypoints.KeypointExample` (selected, centred), augmented in training,
batched as ``B×T×N×4`` with their lengths. Keypoints held in memory are always readable; a sample
without keypoints is skipped and counted in training and an error elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import nn

from core.config import KeypointsConfig
from core.errors import ToolkitError
from core.host_transfer import to_device
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.batching import equal_length_batches
from dataset.gloss_text import EncodedSplit
from dataset.keypoint_formats import read_paper_pickle, read_pose_file
from dataset.keypoint_preprocessing import SELECTIONS
from dataset.keypoints import Keypoints
from dataset.sign_keypoints import (
    KeypointAugmentation,
    KeypointDataset,
    KeypointExample,
    collate_keypoints,
    encode_keypoint_samples,
)
from engine.tasks.input_sources import InMemoryInput
from modelling.encoders import EncoderConfig


class KeypointInput(InMemoryInput):
    """Keypoints of ``data.keypoints``, on ``device``, in the ``coordinates`` its encoder reads (centred on the
    ``shoulders`` or on the ``frame``: of ``data.keypoints.frame_size``, else ``frame_size``, else the file's);
    training augments them (per ``seed`` and epoch)."""

    def __init__(
        self,
        config: KeypointsConfig,
        device: torch.device,
        seed: int,
        coordinates: str = "shoulders",
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        self.config, self.device, self.seed, self.coordinates = config, device, seed, coordinates
        self.frame_size = tuple(config.frame_size) if config.frame_size else frame_size
        self.selection = SELECTIONS[config.selection]
        self.augmentation = KeypointAugmentation(
            config.flip, tuple(config.temporal_rescale), config.rotation, tuple(config.scale), config.shear
        )

    def file(self, split: str) -> Path:
        return Path(self.config.path.format(split=split))

    def exists(self, split: str) -> bool:
        """Whether ``split``'s keypoint file (or folder of ``.pose`` files) is there."""
        path = self.file(split)
        return path.is_dir() if self.config.format == "pose_files" else path.is_file()

    def read(self, split: str, names: list[str]) -> dict[str, Keypoints]:
        """The keypoints of ``split`` (of the samples ``names``, where each has a file of its own)."""
        path = self.file(split)
        if not self.exists(split):
            raise ToolkitError(f"data.keypoints.path: {split} keypoints not found: {path}")
        if self.config.format == "paper_pickle":
            return read_paper_pickle(path)
        files = {name: path / f"{name}.pose" for name in names}
        return {name: read_pose_file(file) for name, file in files.items() if file.is_file()}

    def encode(self, prepared: PreparedSplit, split: str, vocab: GlossVocabulary) -> EncodedSplit:
        """The keypoint examples of ``split``'s samples (and what was skipped, counted)."""
        path = self.file(split)
        videos = self.read(split, [s.name for s in prepared.samples])
        with_mirror = split == "train" and self.config.flip > 0
        return encode_keypoint_samples(
            prepared.samples,
            videos,
            vocab,
            self.selection,
            self.config.interpolate_missing,
            with_mirror,
            str(path),
            skip_missing=split == "train",
            coordinates=self.coordinates,
            frame_size=self.frame_size,
        )

    def dataset(self, examples: list[KeypointExample], training: bool) -> KeypointDataset:
        return KeypointDataset(examples, self.augmentation if training else None, self.seed)

    @staticmethod
    def collator() -> Callable[[list], dict]:
        return collate_keypoints

    @staticmethod
    def length(example: KeypointExample) -> int:
        return example.length

    def network_input(self, batch: dict, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
        return to_device(batch["keypoints"], self.device), batch["lengths"]

    def equal_length_inputs(self, batch: dict) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
        """The batch's inputs in groups of equal frame count, none padded: (rows, keypoints, lengths)."""
        for rows in equal_length_batches(batch["lengths"].tolist()):
            length = int(batch["lengths"][rows[0]])
            yield rows, to_device(batch["keypoints"][rows, :length], self.device), batch["lengths"][rows]

    def check_training_inputs(self, names: list[str]) -> None:
        """The train split's keypoint file must be there."""
        if not self.exists("train"):
            raise ToolkitError(f"data.keypoints.path: train keypoints not found: {self.file('train')}")

    @staticmethod
    def encoder(config: EncoderConfig, pretrained: bool = False) -> nn.Module:
        """The encoder of ``config`` over the keypoints."""
        return config.build(pretrained)

    def metadata(self) -> dict:
        """What a checkpoint of a network on this input records about it."""
        return {"input": "keypoints", "selection": self.selection.name}
