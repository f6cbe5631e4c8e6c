"""Keypoint preprocessing: the paper's 79 joints, centring by the shoulders, missing joints, the flip, heatmaps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dataset.keypoint_preprocessing import (
    MEDIAPIPE_79,
    PAPER_79,
    centre_on_shoulders,
    flip,
    interpolate_missing,
    random_affine,
)
from dataset.keypoints import SKELETONS, KeypointError, Keypoints
from modelling.pose_s3d import gaussian_heatmaps


def test_the_papers_79_joints_in_its_order():
    """TwoStreamNetwork dataset/Dataset.py: its parts sorted by name (face_others_1_3, hand, mouth_half, pose)."""
    face_others, hand, mouth, pose = (
        list(range(23, 71))[::3],
        list(range(91, 133)),
        list(range(71, 91))[::2],
        list(range(11)),
    )
    assert list(PAPER_79.indices) == face_others + hand + mouth + pose and len(PAPER_79.indices) == 79
    names = [SKELETONS["coco-wholebody"].joints[i] for i in PAPER_79.indices]
    assert (
        names[16] == "left_hand_wrist"
        and names[-1] == "right_wrist"
        and names[PAPER_79.shoulders[0]] == "left_shoulder"
    )
    assert len(MEDIAPIPE_79.indices) == 79 and len(set(MEDIAPIPE_79.indices)) == 79


def signer(frames: int = 4) -> np.ndarray:
    """The paper's 79 joints at random places, the shoulders at (100, 50) and (140, 50) px."""
    points = np.random.default_rng(0).uniform(0, 200, (frames, 79, 4)).astype(np.float32)
    points[..., 2], points[..., 3] = 0.0, 1.0
    left, right = PAPER_79.shoulders
    points[:, left, :2], points[:, right, :2] = (140.0, 50.0), (100.0, 50.0)  # facing us: the left one on the right
    return points


def test_centring_puts_the_shoulders_at_minus_and_plus_half_and_keeps_missing_joints_at_zero():
    points = signer()
    points[2, 5, 3] = 0.0  # one joint not found
    centred = centre_on_shoulders(points, PAPER_79.shoulders)
    left, right = PAPER_79.shoulders
    assert centred[0, left, :2].tolist() == [0.5, 0.0] and centred[0, right, :2].tolist() == [-0.5, 0.0]
    assert not centred[2, 5, :3].any()
    np.testing.assert_allclose(centred[1, 7, :2], (points[1, 7, :2] - [120.0, 50.0]) / 40.0, rtol=1e-6)
    points[..., PAPER_79.shoulders[0], 3] = 0.0
    with pytest.raises(KeypointError, match="no frame shows both shoulders"):
        centre_on_shoulders(points, PAPER_79.shoulders)


def test_a_hand_lost_for_some_frames_is_placed_between_the_frames_around_it():
    points = signer(5)
    points[1:3, 20, 3] = 0.0  # lost in frames 1 and 2
    points[:, 30, 3] = 0.0  # never found
    filled, interpolated = interpolate_missing(points)
    np.testing.assert_allclose(filled[1, 20, :2], points[0, 20, :2] + (points[3, 20, :2] - points[0, 20, :2]) / 3)
    assert interpolated[:, 20].tolist() == [False, True, True, False, False] and not interpolated[:, 30].any()
    assert np.array_equal(filled[:, 30], points[:, 30])


@pytest.mark.parametrize("selection", [PAPER_79, MEDIAPIPE_79], ids=lambda s: s.name)
def test_the_flip_mirrors_the_signer_and_swaps_left_and_right(selection):
    skeleton = SKELETONS[selection.layout]
    names = [skeleton.joints[i] for i in selection.indices]
    points = np.random.default_rng(1).normal(size=(2, len(skeleton.joints), 4)).astype(np.float32)
    keypoints = Keypoints(points, selection.layout, "normalised")
    flipped, original = flip(keypoints, selection), selection.select(keypoints)
    left, right = (
        next(i for i, n in enumerate(names) if n.endswith(f"{side}_wrist") and "hand" not in n)
        for side in ("left", "right")
    )
    assert flipped[0, left, 0] == -original[0, right, 0] and flipped[0, left, 1] == original[0, right, 1]
    hand = names.index("left_hand_index_4")
    assert flipped[1, hand, 0] == -original[1, names.index("right_hand_index_4"), 0]
    twice = flip(
        Keypoints(keypoints.points[:, list(skeleton.mirror)] * [-1, 1, 1, 1], selection.layout, "normalised"), selection
    )
    assert np.array_equal(twice, original)  # mirrored twice: the same signer
    if selection is PAPER_79:  # its face points 0, 3, ... take the places of 16, 13, ...: never selected themselves
        assert flipped[0, 0, 0] == -points[0, 23 + 16, 0]


def test_the_affine_augmentation_keeps_shape_and_missing_joints():
    points = centre_on_shoulders(signer(), PAPER_79.shoulders)
    points[0, 3, 3] = 0.0
    points[0, 3, :3] = 0.0
    moved = random_affine(points, np.random.default_rng(0))
    assert moved.shape == points.shape and not moved[0, 3, :3].any()
    lengths = np.linalg.norm(moved[:, 20, :2] - moved[:, 21, :2], axis=1)
    original = np.linalg.norm(points[:, 20, :2] - points[:, 21, :2], axis=1)
    assert np.all((lengths > 0.7 * original) & (lengths < 1.4 * original))  # a plausible signer: bones barely change


def test_heatmaps_are_the_papers_gaussians_on_the_frames_grid():
    """``exp(-((y - y0)² + (x - x0)²) / 2σ²)`` on the pixel grid: a known answer (σ 1, a 5×6 frame)."""
    points = torch.tensor([[[3.0, 2.0, 0.9], [0.0, 0.0, 0.2]]])  # T 1, 2 joints: (x 3, y 2) and the corner
    maps = gaussian_heatmaps(points, (5, 6), sigma=1.0)
    assert maps.shape == (1, 2, 5, 6) and maps[0, 0, 2, 3] == 1.0 and maps[0, 1, 0, 0] == 1.0
    assert maps[0, 0, 2, 4] == pytest.approx(math.exp(-0.5)) and maps[0, 0, 4, 5] == pytest.approx(math.exp(-4.0))
    half = gaussian_heatmaps(points, (5, 6), map_size=(10, 12), sigma=1.0)  # coordinates scaled to the map
    assert half[0, 0, 4, 6] == 1.0
    weighted = gaussian_heatmaps(points, (5, 6), sigma=1.0, confidence_threshold=0.5)
    assert weighted[0, 0, 2, 3] == pytest.approx(0.9) and not weighted[0, 1].any()


def test_a_selection_refuses_keypoints_of_another_layout():
    keypoints = Keypoints(np.zeros((1, 543, 4), dtype=np.float32), "mediapipe-holistic", "normalised")
    assert MEDIAPIPE_79.select(keypoints).shape == (1, 79, 4)
    with pytest.raises(KeypointError, match="the paper-79 selection takes coco-wholebody keypoints, not mediapipe"):
        PAPER_79.select(keypoints)
