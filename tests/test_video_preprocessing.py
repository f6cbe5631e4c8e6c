"""One video path: a user's file and a dataset sample become the same network input."""

from __future__ import annotations

import torch

from core.config import VideoConfig
from dataset.sign_video import VideoExample
from dataset.video_preprocessing import VideoPreprocessing
from dataset.video_reader import write_video_file


def test_a_file_read_for_translation_equals_the_same_video_as_an_evaluation_sample(tmp_path):
    frames = torch.randint(0, 256, (30, 48, 64, 3), dtype=torch.uint8)
    write_video_file(frames, tmp_path / "clip.mp4")
    config = VideoConfig(str(tmp_path), "file", "{name}.mp4", img_size=32, decode_size=40, max_frames=12)
    preprocessing = VideoPreprocessing(config)
    read, available = preprocessing.read_file(str(tmp_path / "clip.mp4"))
    item = preprocessing.dataset([VideoExample("clip", "clip.mp4", [4], "A", 30)], training=False)[0]
    assert available == 30 and read.shape == (12, 40, 53, 3) and torch.equal(read, item.frames)
    batch = preprocessing.collate([item])
    videos = preprocessing.network_input(batch["frames"], torch.device("cpu"), training=False)
    assert videos.shape == (1, 3, 12, 32, 32)
    assert torch.equal(videos, preprocessing.network_input(read[None], torch.device("cpu"), training=False))
    augmented = preprocessing.network_input(batch["frames"], torch.device("cpu"), training=True)
    assert augmented.shape == videos.shape and not torch.equal(augmented, videos)
