"""Sign-video examples for Sign2Gloss: where each sample's video is, its gloss ids, loading and batching.

Missing videos are found when a split is built (a counted skip in training, an error in
evaluation); unreadable ones when they are loaded, which happens in DataLoader workers: the
dataset returns a :class:`SkippedVideo` and the collator lists it in the batch, so the caller
decides (training counts and skips it, evaluation stops with the reason).
"""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample
from dataset.gloss_text import EncodedSplit
from dataset.video_reader import VideoError, VideoSource
from dataset.video_transforms import read_sampled_frames


@dataclass(frozen=True)
class VideoExample:
    """One sample: its video's location, CTC targets (gloss ids, no specials), reference glosses, frame count.

    Sign2Text on video also sets the text's label ids and the reference text (field names as in
    :class:`dataset.gloss_text.GlossTextExample`).
    """

    name: str
    location: str
    ctc_targets: list[int]
    glosses: str
    num_frames: int | None
    label_ids: list[int] = field(default_factory=list)
    text: str = ""

    @property
    def length(self) -> int:
        """Frames for length-aware batching: the annotated count, else a guess from the gloss count."""
        return self.num_frames or 4 * len(self.ctc_targets)


@dataclass(frozen=True)
class LoadedVideo:
    """The sampled frames (T×H×W×3 uint8) of an example, whether it was too short (padded), and which of the
    video's ``available`` frames they are."""

    example: VideoExample
    frames: torch.Tensor
    padded: bool
    indices: list[int] = field(default_factory=list)
    available: int = 0


@dataclass(frozen=True)
class SkippedVideo:
    """An example whose video could not be read, and why."""

    name: str
    reason: str


def locate_videos(names: list[str], split: str, source: VideoSource, skip_missing: bool) -> dict[str, str]:
    """Where each video of ``names`` is, if it exists; a missing one is an error unless ``skip_missing``."""
    locations = {name: source.location(split, name) for name in names}
    missing = set(source.missing(list(locations.values())))
    if missing and not skip_missing:
        raise VideoError(f"{len(missing)} {split} video(s) not found under {source.root}, e.g. {sorted(missing)[0]}")
    return {name: location for name, location in locations.items() if location not in missing}


def encode_video_samples(
    samples: list[Sample], split: str, source: VideoSource, vocab: GlossVocabulary, skip_missing: bool
) -> EncodedSplit:
    """Video examples of ``samples``; missing videos are skipped and counted, or (``skip_missing`` off) an error."""
    found = locate_videos([s.name for s in samples], split, source, skip_missing)
    examples, counts = [], Counter({"missing videos": len(samples) - len(found)})
    for sample in (s for s in samples if s.name in found):
        encoded = vocab.encode(sample.gloss, framed=False)  # CTC targets
        counts["unknown glosses"] += encoded.num_unknown
        counts["samples with unknown glosses"] += encoded.num_unknown > 0
        examples.append(VideoExample(sample.name, found[sample.name], encoded.ids, sample.gloss, sample.num_frames))
    return EncodedSplit(examples, counts)


def attach_videos(
    encoded: EncodedSplit, num_frames: dict[str, int | None], split: str, source: VideoSource, skip_missing: bool
) -> EncodedSplit:
    """Video examples of encoded gloss-text examples (their targets and labels kept); missing videos as above."""
    found = locate_videos([e.name for e in encoded.examples], split, source, skip_missing)
    examples = [
        VideoExample(e.name, found[e.name], e.ctc_targets, e.glosses, num_frames[e.name], e.label_ids, e.text)
        for e in encoded.examples
        if e.name in found
    ]
    return EncodedSplit(examples, encoded.counts + Counter({"missing videos": len(encoded.examples) - len(examples)}))


class SignVideoDataset(Dataset):
    """Loads and samples the frames of video examples; training rescales time at random.

    The random rescale of item ``i`` depends only on (seed, epoch, i), so a resumed run loads the
    same frames as an uninterrupted one whatever the number of workers. The epoch lives in shared
    memory, so persistent DataLoader workers see each :meth:`set_epoch` of the main process.
    """

    def __init__(
        self,
        examples: list[VideoExample],
        source: VideoSource,
        max_frames: int,
        min_frames: int,
        rescale: tuple[float, float] | None = None,
        seed: int = 0,
        selection: str = "even",
    ) -> None:
        self.examples, self.source, self.selection = examples, source, selection
        self.max_frames, self.min_frames, self.rescale, self.seed = max_frames, min_frames, rescale, seed
        self._epoch = multiprocessing.RawValue("q", 0)

    @property
    def epoch(self) -> int:
        return self._epoch.value

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch's random rescales (before the DataLoader's iterator for it starts)."""
        self._epoch.value = epoch

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> LoadedVideo | SkippedVideo:
        example = self.examples[index]
        rng = None if self.rescale is None else random.Random(f"{self.seed}:{self.epoch}:{index}")
        try:
            frames, available, indices = read_sampled_frames(
                lambda select: self.source.read(example.location, select),
                self.max_frames,
                self.min_frames,
                rng,
                self.rescale or (1.0, 1.0),
                self.selection,
            )
        except VideoError as error:
            return SkippedVideo(example.name, str(error))
        return LoadedVideo(example, frames, available < self.min_frames, indices, available)


def pad_videos(videos: list[torch.Tensor]) -> torch.Tensor:
    """Stack T×H×W×3 uint8 videos into B×T_max×H×W×3 (zeros after each end); other sizes are resized to the first's."""
    height, width = videos[0].shape[1:3]
    batch = torch.zeros(len(videos), max(len(v) for v in videos), height, width, 3, dtype=torch.uint8)
    for row, video in enumerate(videos):
        if video.shape[1:3] != (height, width):
            resized = F.interpolate(video.permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear")
            video = resized.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
        batch[row, : len(video)] = video
    return batch


def collate_videos(items: list[LoadedVideo | SkippedVideo]) -> dict:
    """A batch of the loaded items (frames, lengths, CTC targets, reference glosses) and the skipped ones."""
    loaded = [item for item in items if isinstance(item, LoadedVideo)]
    return {
        "names": [item.example.name for item in loaded],
        "frames": pad_videos([item.frames for item in loaded]) if loaded else None,
        "lengths": torch.tensor([len(item.frames) for item in loaded], dtype=torch.long),
        "ctc_targets": [item.example.ctc_targets for item in loaded],
        "glosses": [item.example.glosses for item in loaded],
        "label_ids": [item.example.label_ids for item in loaded],
        "padded": [item.padded for item in loaded],
        "skipped": [(item.name, item.reason) for item in items if isinstance(item, SkippedVideo)],
    }


def blank_video_batch(label_ids: list[int] | None = None) -> dict:
    """A one-clip batch of 8 black frames with no glosses, to run a model on when a batch has no readable video."""
    example = VideoExample("<blank>", "", [], "", 8, label_ids or [])
    return collate_videos([LoadedVideo(example, torch.zeros(8, 16, 16, 3, dtype=torch.uint8), padded=False)])
