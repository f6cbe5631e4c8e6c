"""Keypoint examples of a split: each sample's selected, centred keypoints with its CTC targets; their
augmentation in training and their batches.

A sample's keypoints are read once (:mod:`dataset.keypoint_formats`), its selection's joints taken
(:mod:`dataset.keypoint_preprocessing`), missing joints placed between the frames around them (if
asked), and the signer centred and scaled by the shoulders; the mirrored signer is prepared too
when training may flip it (the flip needs the whole layout). Training then draws, per sample and
epoch (from the seed: a resumed run sees the same draws), a flip, a temporal rescale and an affine
change within the configured bounds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample
from dataset.batching import example_fields, pad_in_time
from dataset.gloss_text import EncodedSplit
from dataset.keypoint_preprocessing import Selection, centre_on_shoulders, flip, interpolate_missing, random_affine
from dataset.keypoints import KeypointError, Keypoints


@dataclass(frozen=True)
class KeypointExample:
    """One sample: its keypoints (``T×N×4``, selected and centred; and mirrored, for a flip), CTC targets, glosses."""

    name: str
    keypoints: np.ndarray
    ctc_targets: list[int]
    glosses: str
    mirrored: np.ndarray | None = None
    label_ids: list[int] = field(default_factory=list)
    text: str = ""

    @property
    def length(self) -> int:
        return len(self.keypoints)


@dataclass(frozen=True)
class KeypointAugmentation:
    """Training's random changes: a flip's chance, time rescaled within ``temporal_rescale``, the affine bounds."""

    flip: float = 0.0
    temporal_rescale: tuple[float, float] = (1.0, 1.0)
    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    shear: float = 0.0


COORDINATES = ("shoulders", "frame")


def prepared(
    keypoints: Keypoints,
    selection: Selection,
    interpolate: bool,
    mirrored: bool = False,
    coordinates: str = "shoulders",
    frame_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """``keypoints``' selected joints (the mirrored signer's if ``mirrored``), gaps filled if ``interpolate``, in
    ``coordinates``: ``shoulders`` (centred on them, their width 1) or ``frame`` (fractions of the frame, centred on
    its middle; ``frame_size`` (height, width) where the keypoints do not say)."""
    if coordinates == "frame":
        keypoints = _frame_centred(keypoints, frame_size)
    points = flip(keypoints, selection) if mirrored else selection.select(keypoints)
    if interpolate:
        points = interpolate_missing(points)[0]
    return centre_on_shoulders(points, selection.shoulders) if coordinates == "shoulders" else points


def _frame_centred(keypoints: Keypoints, frame_size: tuple[int, int] | None) -> Keypoints:
    """``keypoints`` as fractions of their frame minus one half (joints not found left at 0)."""
    height, width = (keypoints.height, keypoints.width) if keypoints.width else (frame_size or (None, None))
    if keypoints.units == "normalised":
        height, width = 1, 1
    if not (height and width):
        raise KeypointError("the keypoints do not say their frame's size: set data.keypoints.frame_size")
    points = keypoints.points.copy()
    points[..., 0], points[..., 1] = points[..., 0] / width - 0.5, points[..., 1] / height - 0.5
    points[..., :3] *= points[..., 3:] > 0
    return Keypoints(points, keypoints.layout, "normalised", keypoints.width, keypoints.height, keypoints.fps)


def encode_keypoint_samples(
    samples: list[Sample],
    videos: dict[str, Keypoints],
    vocab: GlossVocabulary,
    selection: Selection,
    interpolate: bool,
    with_mirror: bool,
    source: str,
    skip_missing: bool,
    coordinates: str = "shoulders",
    frame_size: tuple[int, int] | None = None,
) -> EncodedSplit:
    """Keypoint examples of ``samples``; a sample without keypoints is skipped and counted, or (``skip_missing``
    off) an error naming ``source`` (the keypoint file); so are keypoints that cannot be centred."""
    examples, counts = [], Counter()
    for sample in samples:
        if sample.name not in videos:
            if not skip_missing:
                raise KeypointError(f"{source}: no keypoints of sample {sample.name}")
            counts["samples without keypoints"] += 1
            continue
        try:
            where = {"coordinates": coordinates, "frame_size": frame_size}
            points = prepared(videos[sample.name], selection, interpolate, **where)
            mirrored = prepared(videos[sample.name], selection, interpolate, True, **where) if with_mirror else None
        except KeypointError as error:
            raise KeypointError(f"{source}: {sample.name}: {error}") from error
        encoded = vocab.encode(sample.gloss, framed=False)  # CTC targets
        counts["unknown glosses"] += encoded.num_unknown
        counts["samples with unknown glosses"] += encoded.num_unknown > 0
        examples.append(KeypointExample(sample.name, points, encoded.ids, sample.gloss, mirrored))
    return EncodedSplit(examples, counts)


class KeypointDataset:
    """Keypoint examples as a DataLoader dataset, augmented in training per sample and epoch."""

    def __init__(self, examples: list[KeypointExample], augmentation: KeypointAugmentation | None, seed: int) -> None:
        self.examples, self.augmentation, self.seed, self.epoch = examples, augmentation, seed, 0

    def __len__(self) -> int:
        return len(self.examples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> KeypointExample:
        example = self.examples[index]
        if self.augmentation is None:
            return example
        return replace(
            example, keypoints=self._augmented(example, np.random.default_rng((self.seed, self.epoch, index)))
        )

    def _augmented(self, example: KeypointExample, rng: np.random.Generator) -> np.ndarray:
        settings = self.augmentation
        flipped = example.mirrored is not None and rng.random() < settings.flip
        points = example.mirrored if flipped else example.keypoints
        low, high = settings.temporal_rescale
        frames = max(1, round(len(points) * rng.uniform(low, high)))
        points = points[np.linspace(0, len(points) - 1, frames).round().astype(int)]
        return random_affine(points, rng, settings.rotation, settings.scale, settings.shear)


def collate_keypoints(examples: list[KeypointExample]) -> dict:
    """A batch: names, keypoints ``B×T×N×4`` padded with zeros, lengths, CTC targets, glosses (and S2T's labels)."""
    padded, lengths = pad_in_time([torch.from_numpy(e.keypoints) for e in examples])
    return {
        **example_fields(examples),
        "keypoints": padded,
        "lengths": lengths,
        "glosses": [e.glosses for e in examples],
    }
