import subprocess
import sys
import zipfile

import av
import numpy as np
import pytest
import torch
from PIL import Image

from dataset.toy_sign_video import write_frame_folder
from dataset.video_reader import (
    VideoError,
    VideoSource,
    probe_video_file,
    read_frame_folder,
    read_video_file,
    read_zip_folder,
    working_size,
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


def _write_all_layouts(frames: torch.Tensor, root, short_side: int | None = None) -> list[VideoSource]:
    """``frames`` as sample-1 of dev in each layout (PNG folders, a zip of them, an mp4), and a source for each."""
    write_frame_folder(frames, root / "frames" / "dev" / "sample-1")
    with zipfile.ZipFile(root / "frames.zip", "w") as archive:
        for path in sorted((root / "frames" / "dev" / "sample-1").iterdir()):
            archive.write(path, f"dev/sample-1/{path.name}")
    (root / "videos").mkdir()
    write_video_file(frames, root / "videos" / "sample-1.mp4")
    return [
        VideoSource(root / "frames", "frames", "{split}/{name}", short_side),
        VideoSource(root / "frames.zip", "zip", "{split}/{name}", short_side),
        VideoSource(root / "videos", "file", "{name}.mp4", short_side),
    ]


def test_video_source_reads_selected_frames_in_each_layout(tmp_path, frames):
    picked = []
    for source in _write_all_layouts(frames, tmp_path):
        location = source.location("dev", "sample-1")
        assert source.missing([location, source.location("dev", "absent")]) == [source.location("dev", "absent")]
        picked.append(source.read(location, select=lambda n: [0, n - 1, n - 1]))
    assert picked[0].shape == (3, 24, 32, 3)
    assert torch.equal(picked[0], frames[[0, 6, 6]]) and torch.equal(picked[1], picked[0])
    assert (picked[2].int() - picked[0].int()).abs().max() <= 1


def test_frames_are_scaled_to_the_working_size_as_they_are_decoded(tmp_path):
    shades = torch.arange(0, 200, 20, dtype=torch.uint8)  # frame i is one flat shade: 20 * i
    frames = shades.view(-1, 1, 1, 1).expand(10, 48, 64, 3).contiguous()
    for source in _write_all_layouts(frames, tmp_path, short_side=24):
        picked = source.read(source.location("dev", "sample-1"), select=lambda n: [1, 4, 4, 9])
        assert picked.shape == (4, 24, 32, 3), source.layout  # shorter side 48 -> 24, aspect kept
        assert picked.float().mean(dim=(1, 2, 3)).round().tolist() == [20, 80, 80, 180], source.layout


def test_bicubic_resampling_is_the_papers_csl_daily_reader(tmp_path, frames):
    """Its reader: ``Image.open(...).convert("RGB").resize((320, 320))`` (PIL's default filter, bicubic)."""
    folder = tmp_path / "sample"
    folder.mkdir()
    for index, frame in enumerate(frames[:2]):
        Image.fromarray(frame.numpy()).save(folder / f"{index:03d}.jpg", quality=90)
    expected = [np.asarray(Image.open(path).convert("RGB").resize((21, 16))) for path in sorted(folder.iterdir())]
    ours = read_frame_folder(folder, short_side=16, resampling="bicubic")
    assert torch.equal(ours, torch.from_numpy(np.stack(expected)))
    assert not torch.equal(read_frame_folder(folder, short_side=16), ours)  # the toolkit's filter is another


def test_working_size_scales_down_only():
    assert working_size(1080, 1920, 256) == (256, 455)
    assert working_size(1920, 1080, 256) == (455, 256)
    assert working_size(210, 260, 256) == (210, 260) and working_size(1080, 1920, None) == (1080, 1920)


_PEAK_GROWTH = """
import resource, sys
from dataset.video_reader import read_video_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
picked = read_video_file(sys.argv[1], select=lambda n: [0, n // 2, n - 1], short_side=90)
print(tuple(picked.shape), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_a_large_video_never_holds_all_its_frames_at_full_size(tmp_path):
    """120 frames of 720×1280 are 330 MB at full size; 3 picked and scaled down add a few MB to the peak."""
    ramp = np.linspace(0, 255, 1280, dtype=np.float32)
    shades = (((ramp + 2 * i) % 256).astype(np.uint8) for i in range(120))
    frames = (np.broadcast_to(shade[None, :, None], (720, 1280, 3)) for shade in shades)
    write_video_file(frames, tmp_path / "large.mp4", lossless=False)
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_GROWTH, str(tmp_path / "large.mp4")], capture_output=True, text=True, check=True
    )
    shape, growth_mb = run.stdout.rsplit(")", 1)
    assert shape + ")" == "(3, 90, 160, 3)"
    assert int(growth_mb) < 120, f"peak memory grew {growth_mb} MB while decoding"


def test_a_video_without_a_video_stream_is_named(tmp_path):
    path = tmp_path / "sound.mp4"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        for _ in range(3):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.raises(VideoError, match="sound.mp4: no video stream"):
        read_video_file(path)


@pytest.mark.parametrize("fps", [25, 30])
def test_probing_a_video_gives_its_frames_and_rate_without_decoding(tmp_path, fps):
    path = tmp_path / "clip.mp4"
    write_video_file(torch.zeros(12, 16, 16, 3, dtype=torch.uint8), path, fps=fps)
    info = probe_video_file(path)
    assert (info.frames, info.fps) == (12, fps) and info.seconds == pytest.approx(12 / fps)
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match="junk.mp4: not a readable video"):
        probe_video_file(tmp_path / "junk.mp4")
    with pytest.raises(VideoError, match="video file not found"):
        probe_video_file(tmp_path / "missing.mp4")
    with pytest.raises(VideoError, match="a directory, not a video file"):
        probe_video_file(tmp_path)
