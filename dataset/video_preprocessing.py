"""One video preprocessing path for training, evaluation, feature extraction and translation.

:class:`VideoPreprocessing` is built from a validated :class:`~core.config.VideoConfig` and owns
every step from a video to the network's input: where a sample's video is, which frames are read
(evenly subsampled to ``max_frames``, repeated up to ``min_frames``, randomly rescaled in time when
training), how frames are batched, and how a batch is cropped, augmented and normalised.
"""

from __future__ import annotations

import torch

from core.config import VideoConfig
from dataset.sign_video import SignVideoDataset, VideoExample, collate_videos
from dataset.video_reader import VideoSource, read_video_file
from dataset.video_transforms import crop_boxes, prepare_videos, read_sampled_frames


class VideoPreprocessing:
    """From a sample's (or a user's) video to the normalised ``B×3×T×size×size`` input of S3D."""

    collate = staticmethod(collate_videos)

    def __init__(self, video: VideoConfig, seed: int = 0) -> None:
        self.config, self.seed = video, seed
        self.source = VideoSource(video.root, video.format, video.path, video.decode_size, video.decode_resampling)

    def dataset(self, examples: list[VideoExample], training: bool) -> SignVideoDataset:
        """The sampled frames of ``examples``, randomly rescaled in time when ``training`` (per seed and epoch)."""
        video = self.config
        rescale = tuple(video.temporal_rescale) if training else None
        return SignVideoDataset(
            examples, self.source, video.max_frames, video.min_frames, rescale, self.seed, video.frame_selection
        )

    def read_file(self, path: str) -> tuple[torch.Tensor, int]:
        """A video file's frames (T×H×W×3 uint8) sampled as in evaluation, and the file's own frame count."""
        video = self.config
        frames, available, _ = read_sampled_frames(
            lambda select: read_video_file(path, select, video.decode_size, video.decode_resampling),
            video.max_frames,
            video.min_frames,
            selection=video.frame_selection,
        )
        return frames, available

    def crop_boxes(self, frames: torch.Tensor, training: bool) -> torch.Tensor:
        """The crop of each clip of padded frames ``B×T×H×W×3`` (random in training, else the centre)."""
        video = self.config
        if training:
            return crop_boxes(frames.shape, True, None, tuple(video.crop_area), tuple(video.crop_ratio))
        return crop_boxes(frames.shape, False, centre_crop=video.centre_crop, crop_pixels=video.centre_crop_pixels)

    def network_input(
        self, frames: torch.Tensor, device: torch.device, training: bool, boxes: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Padded uint8 frames -> augmented (``training``) or centre-cropped, normalised videos on ``device``;
        ``boxes``: the crops, when :meth:`crop_boxes` chose them for another stream too."""
        frames, video = frames.to(device, non_blocking=True), self.config
        if boxes is None:
            boxes = self.crop_boxes(frames, training)
        jitter = video.colour_jitter if training else 0.0
        videos = prepare_videos(
            frames, video.img_size, training, jitter=jitter, normalisation=video.normalisation, boxes=boxes
        )
        if torch.device(device).type == "cuda":  # channels-last, as S3D's weights are on a GPU (engine.device)
            videos = videos.contiguous(memory_format=torch.channels_last_3d)
        return videos
