"""The two-stream input of a stage: each sample's video (``data.video``) and keypoints (``data.keypoints``).

It follows :class:`engine.task_protocol.InputSource`, made of a :class:`VideoInput` and a
:class:`KeypointInput`: the video decides the frames and the crop, and the keypoints follow them
(:mod:`dataset.sign_two_stream`). A batch becomes ``((videos, keypoints), lengths)``. A sample
missing either stream is skipped and counted in training and an error elsewhere, as a sample whose
video cannot be read or whose keypoints have another frame count than its video.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import torch
from torch import nn

from core.config import Config, ConfigError, KeypointsConfig
from core.host_transfer import to_device
from core.vocabulary import GlossVocabulary
from dataset.annotations import PreparedSplit
from dataset.gloss_text import EncodedSplit
from dataset.sign_two_stream import TwoStreamDataset, TwoStreamExample, collate_two_stream, crop_keypoints
from dataset.sign_video import encode_video_samples
from engine.tasks.input_sources import VideoInput
from engine.tasks.keypoint_input import KeypointInput
from modelling.encoders import EncoderConfig


class TwoStreamInput:
    """Videos and their keypoints, at the same frames and in the same crop."""

    def __init__(self, video: VideoInput, keypoints: KeypointInput) -> None:
        self.video, self.keypoints = video, keypoints
        self.num_workers, self.device = video.num_workers, video.device

    def encode(self, prepared: PreparedSplit, split: str, vocab: GlossVocabulary) -> EncodedSplit:
        """The samples of ``split`` with both a video and keypoints (the others skipped in train, else an error)."""
        source = self.video.preprocessing.source
        videos = encode_video_samples(prepared.samples, split, source, vocab, skip_missing=split == "train")
        points = self.keypoints.encode(prepared, split, vocab)
        by_name = {example.name: example.keypoints for example in points.examples}
        examples = [TwoStreamExample(v, by_name[v.name]) for v in videos.examples if v.name in by_name]
        counts = videos.counts + Counter({"samples without keypoints": len(videos.examples) - len(examples)})
        return EncodedSplit(examples, counts)

    def dataset(self, examples: list[TwoStreamExample], training: bool) -> TwoStreamDataset:
        videos = self.video.dataset([e.video for e in examples], training)
        return TwoStreamDataset(videos, [e.keypoints for e in examples])

    @staticmethod
    def collator() -> Callable[[list], dict]:
        return collate_two_stream

    @staticmethod
    def length(example: TwoStreamExample) -> int:
        return example.length

    def network_input(self, batch: dict, training: bool) -> tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]:
        """The clips (augmented in training) and the keypoints in each clip's crop, on the device."""
        preprocessing = self.video.preprocessing
        boxes = preprocessing.crop_boxes(batch["frames"], training)
        videos = preprocessing.network_input(batch["frames"], self.device, training, boxes)
        keypoints = crop_keypoints(to_device(batch["keypoints"], self.device), boxes)
        return (videos, keypoints), batch["lengths"]

    def readable(self, batch: dict, split: str, counts: Counter | None) -> bool:
        return self.video.readable(batch, split, counts)

    def input_counts(self, batch: dict) -> list[dict[str, int]]:
        return self.video.input_counts(batch)

    def blank_batch(self, label_ids: list[int]) -> dict:
        """One black clip with no joints found."""
        batch = self.video.blank_batch(label_ids)
        joints = len(self.keypoints.selection.indices)
        batch["keypoints"] = torch.zeros(1, batch["frames"].shape[1], joints, 4)
        return batch

    def check_training_inputs(self, names: list[str]) -> None:
        self.video.check_training_inputs(names)
        self.keypoints.check_training_inputs(names)

    @staticmethod
    def encoder(config: EncoderConfig, pretrained: bool = False) -> nn.Module:
        return config.build(pretrained)

    def metadata(self) -> dict:
        """What a checkpoint of a network on this input records about it."""
        return {**self.keypoints.metadata(), "input": "video+keypoints"}


KEYPOINT_AUGMENTATION = ("flip", "temporal_rescale", "rotation", "scale", "shear")


def check_two_stream_config(config: Config, source: str) -> None:
    """The heatmaps must be half the video's size (the lateral connections halve and double it). The keypoints
    take the video's frames and crop: a keypoint augmentation setting away from its default would be ignored,
    so it is an error."""
    video, keypoints, encoder = config.data.video, config.data.keypoints, config.recognition.encoder
    if video.img_size != 2 * encoder.map_size:
        raise ConfigError(
            f"{source}: recognition.encoder.map_size ({encoder.map_size}) must be half data.video.img_size "
            f"({video.img_size}): the lateral connections halve and double the size"
        )
    defaults = KeypointsConfig(path=keypoints.path)
    for key in KEYPOINT_AUGMENTATION:
        if getattr(keypoints, key) != getattr(defaults, key):
            raise ConfigError(
                f"{source}: data.keypoints.{key}: the two-stream network's keypoints follow the video's frames "
                "and crop (data.video's temporal_rescale, crop_area, crop_ratio): leave it out"
            )
