"""Two-stream examples: each sample's video and its keypoints, the same frames of both, cropped alike.

The paper's two-stream network (TwoStream-SLT) adds the streams' activations to each other, so
both must show the same moments and the same part of the frame. The video's frame selection
(temporal rescale in training) picks the frames; the keypoints take the same indices. The video's
crop (random in training, the centre in evaluation) is applied to the keypoints' coordinates as
well, so each joint's heatmap lies where the joint is in the cropped clip, as the paper's code
crops its heatmaps with the video's box. A sample whose keypoints have another frame count than its
video cannot be paired: it is skipped with that reason, as an unreadable video is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from dataset.batching import pad_in_time
from dataset.sign_video import LoadedVideo, SignVideoDataset, SkippedVideo, VideoExample, collate_videos


@dataclass(frozen=True)
class TwoStreamExample:
    """A sample's video example and its keypoints (``T×N×4``, all the video's frames, frame-centred)."""

    video: VideoExample
    keypoints: np.ndarray

    @property
    def name(self) -> str:
        return self.video.name

    @property
    def glosses(self) -> str:
        return self.video.glosses

    @property
    def length(self) -> int:
        return self.video.num_frames or len(self.keypoints)


@dataclass(frozen=True)
class LoadedTwoStream:
    """A loaded video and its keypoints at the video's sampled frames (``T×N×4``, frame-centred)."""

    video: LoadedVideo
    keypoints: np.ndarray


class TwoStreamDataset(Dataset):
    """The videos of ``videos`` (a dataset of the examples' videos) with ``keypoints`` (in the same order) at the
    same frames."""

    def __init__(self, videos: SignVideoDataset, keypoints: list[np.ndarray]) -> None:
        self.videos, self.keypoints = videos, keypoints

    def __len__(self) -> int:
        return len(self.videos)

    def set_epoch(self, epoch: int) -> None:
        self.videos.set_epoch(epoch)

    def __getitem__(self, index: int) -> LoadedTwoStream | SkippedVideo:
        item = self.videos[index]
        if isinstance(item, SkippedVideo):
            return item
        points = self.keypoints[index]
        if len(points) != item.available:
            reason = f"its keypoints have {len(points)} frames, its video {item.available}: they cannot be paired"
            return SkippedVideo(item.example.name, reason)
        return LoadedTwoStream(item, points[item.indices])


def collate_two_stream(items: list[LoadedTwoStream | SkippedVideo]) -> dict:
    """A video batch (see :func:`~dataset.sign_video.collate_videos`) with ``keypoints`` ``B×T×N×4``."""
    loaded = [item for item in items if isinstance(item, LoadedTwoStream)]
    skipped = [item for item in items if isinstance(item, SkippedVideo)]
    batch = collate_videos([item.video for item in loaded] + skipped)
    keypoints = [torch.from_numpy(item.keypoints) for item in loaded]
    batch["keypoints"] = pad_in_time(keypoints)[0] if keypoints else None
    return batch


def crop_keypoints(keypoints: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Frame-centred keypoints ``B×T×N×4`` (x, y in [-0.5, 0.5] of the frame) in the coordinates of each clip's
    crop (``boxes`` B×4 as :func:`~dataset.video_transforms.crop_boxes`: centre and size in [-1, 1] units)."""
    boxes = boxes.to(keypoints.device, keypoints.dtype)[:, None, None]
    cropped = keypoints.clone()
    cropped[..., 0] = (2 * keypoints[..., 0] - boxes[..., 0]) / boxes[..., 2]
    cropped[..., 1] = (2 * keypoints[..., 1] - boxes[..., 1]) / boxes[..., 3]
    return cropped
