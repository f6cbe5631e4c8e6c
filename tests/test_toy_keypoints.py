"""The toy signer's joints: the signing the toy videos show, a plausible figure, an extractor's noise."""

from __future__ import annotations

import random

import numpy as np

from dataset.keypoint_formats import read_paper_pickle
from dataset.keypoint_preprocessing import PAPER_79, centre_on_shoulders
from dataset.keypoints import SKELETONS
from dataset.toy_keypoints import toy_keypoints, write_toy_keypoints
from dataset.toy_sign_language import generate_split
from dataset.toy_sign_video import gloss_motion, hand_path, render_glosses, signer_style

JOINTS = SKELETONS["coco-wholebody"].joints
GLOSSES = ["TODAY", "IX-2", "BALL", "GOOD", "EAT"]


def test_the_wrists_follow_the_hands_the_video_draws_frame_by_frame():
    signer = signer_style("Signer03", 7)
    keypoints = toy_keypoints(GLOSSES, signer, 64)
    assert len(keypoints.points) == len(render_glosses(GLOSSES, signer, 64))  # one frame of joints per frame
    centres = np.array([c for _, _, c in hand_path(GLOSSES, signer)]) * 64
    right, left = JOINTS.index("right_wrist"), JOINTS.index("left_wrist")
    np.testing.assert_allclose(keypoints.points[:, right, :2], centres[:, 0], rtol=1e-6)  # the image's left hand
    np.testing.assert_allclose(keypoints.points[:, left, :2], centres[:, 1], rtol=1e-6)
    assert (
        keypoints.found[:, : JOINTS.index("left_knee")].all()
        and not keypoints.found[:, JOINTS.index("left_knee") : 23].any()
    )


def test_the_figure_is_plausible_and_its_hands_take_the_drawn_shapes():
    signer = signer_style("Signer01", 7)
    points = toy_keypoints(GLOSSES, signer, 64).points
    shoulders = points[:, [JOINTS.index("left_shoulder"), JOINTS.index("right_shoulder")], 0]
    assert (shoulders[:, 0] > shoulders[:, 1]).all()  # facing the camera: the signer's left on the image's right
    nose, chin = points[:, JOINTS.index("nose"), 1], points[:, 23 + 8, 1]
    assert (chin > nose).all() and (nose < points[:, JOINTS.index("left_shoulder"), 1]).all()
    spans = {}
    for gloss in GLOSSES:
        motion = gloss_motion(gloss)[1]
        hand = toy_keypoints([gloss], signer, 64).points[:, 91:112, :2]
        reach = np.linalg.norm(hand[:, [8, 12, 16, 20]] - hand[:, :1], axis=-1).mean() / motion.radius
        spans.setdefault(motion.shape, []).append(reach)
    if "disc" in spans and "square" in spans:
        assert max(spans["disc"]) < min(spans["square"])  # a fist's fingertips nearer the wrist than a flat hand's


def test_the_extractor_noise_is_jitter_weak_joints_and_now_and_then_a_lost_hand():
    signer = signer_style("Signer02", 7)
    clean = toy_keypoints(GLOSSES, signer, 64).points
    lost = 0
    for seed in range(20):
        noisy = toy_keypoints(GLOSSES, signer, 64, random.Random(seed)).points
        found = noisy[..., 3] > 0
        assert np.abs(noisy[found][:, :2] - clean[found][:, :2]).max() < 2.0  # jitter of a pixel or so
        assert ((noisy[..., 3] > 0) & (noisy[..., 3] < 0.5)).any()
        lost += ((~found[:, 91:112]).all(axis=-1) | (~found[:, 112:133]).all(axis=-1)).any()
    assert 0 < lost < 20
    again = toy_keypoints(GLOSSES, signer, 64, random.Random(3)).points
    assert np.array_equal(again, toy_keypoints(GLOSSES, signer, 64, random.Random(3)).points)


def test_the_toy_keypoint_file_is_the_papers_and_centres_on_the_shoulders(tmp_path):
    records = generate_split("dev", 6, 5)
    write_toy_keypoints(records, 7, 64, tmp_path / "dev.keypoints.pkl")
    videos = read_paper_pickle(tmp_path / "dev.keypoints.pkl")
    assert sorted(videos) == sorted(r["name"] for r in records)
    centred = centre_on_shoulders(PAPER_79.select(videos[records[0]["name"]]), PAPER_79.shoulders)
    assert np.abs(centred[:, PAPER_79.shoulders[0], 0] - 0.5).max() < 0.1
