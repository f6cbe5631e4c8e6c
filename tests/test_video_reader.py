import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from dataset.toy_sign_video import write_frame_folder
from dataset.video_reader import (
    VideoError,
    VideoSource,
    read_frame_folder,
    read_video_file,
    read_zip_folder,
    write_video_file,
)


@pytest.fixture()
def frames() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (7, 24, 32, 3), generator=generator, dtype=torch.uint8)


def test_three_layouts_give_the_same_frames(tmp_path, frames):
    write_frame_folder(frames, tmp_path / "dev" / "sample-1")
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as archive:
        for path in sorted((tmp_path / "dev" / "sample-1").iterdir()):
            archive.write(path, f"dev/sample-1/{path.name}")
    write_video_file(frames, tmp_path / "sample-1.mp4")
    from_folder = read_frame_folder(tmp_path / "dev" / "sample-1")
    from_zip = read_zip_folder(tmp_path / "frames.zip", "dev/sample-1")
    from_mp4 = read_video_file(tmp_path / "sample-1.mp4")
    assert torch.equal(from_folder, frames) and torch.equal(from_zip, frames)
    assert from_mp4.shape == frames.shape
    assert (from_mp4.int() - frames.int()).abs().max() <= 1  # lossless up to colour-conversion rounding


def test_missing_and_corrupt_sources_are_named(tmp_path):
    with pytest.raises(VideoError, match="video file not found"):
        read_video_file(tmp_path / "absent.mp4")
    (tmp_path / "fake.mp4").write_bytes(b"this is not a video")
    with pytest.raises(VideoError, match="fake.mp4: not a readable video"):
        read_video_file(tmp_path / "fake.mp4")
    with pytest.raises(VideoError, match="frame folder not found"):
        read_frame_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="empty: no frames"):
        read_frame_folder(tmp_path / "empty")
    (tmp_path / "bad.zip").write_bytes(b"no zip")
    with pytest.raises(VideoError, match="unreadable zip"):
        read_zip_folder(tmp_path / "bad.zip", "dev/x")


def test_frames_of_differing_size_are_an_error(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(folder / "b.png")
    (folder / "c.png").write_bytes(b"broken")
    with pytest.raises(VideoError, match="unreadable image"):
        read_frame_folder(folder)
    (folder / "c.png").unlink()
    with pytest.raises(VideoError, match="frames of differing size"):
        read_frame_folder(folder)


def test_video_source_reads_selected_frames_in_each_layout(tmp_path, frames):
    write_frame_folder(frames, tmp_path / "frames" / "dev" / "sample-1")
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as archive:
        for path in sorted((tmp_path / "frames" / "dev" / "sample-1").iterdir()):
            archive.write(path, f"dev/sample-1/{path.name}")
    (tmp_path / "videos").mkdir()
    write_video_file(frames, tmp_path / "videos" / "sample-1.mp4")
    sources = [
        VideoSource(tmp_path / "frames", "frames", "{split}/{name}"),
        VideoSource(tmp_path / "frames.zip", "zip", "{split}/{name}"),
        VideoSource(tmp_path / "videos", "file", "{name}.mp4"),
    ]
    picked = []
    for source in sources:
        location = source.location("dev", "sample-1")
        assert source.missing([location, source.location("dev", "absent")]) == [source.location("dev", "absent")]
        picked.append(source.read(location, select=lambda n: [0, n - 1, n - 1]))
    assert picked[0].shape == (3, 24, 32, 3)
    assert torch.equal(picked[0], frames[[0, 6, 6]]) and torch.equal(picked[1], picked[0])
    assert (picked[2].int() - picked[0].int()).abs().max() <= 1
