"""Each keypoint format read from a tiny file written in its layout: known answers, and malformed files named."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from dataset.keypoint_formats import (
    read_kaggle_parquet,
    read_openpose_folder,
    read_paper_pickle,
    read_pose_file,
    write_kaggle_parquet,
    write_paper_pickle,
    write_pose_file,
)
from dataset.keypoints import SKELETONS, KeypointError, Keypoints


def holistic(frames: int = 3, seed: int = 0) -> np.ndarray:
    """MediaPipe Holistic points (normalised), the right hand lost in frame 1."""
    points = np.random.default_rng(seed).uniform(0.1, 0.9, (frames, 543, 4)).astype(np.float32)
    points[..., 3] = 1.0
    points[1, 522:543] = 0.0
    return points


def test_the_papers_pickle_holds_coco_wholebody_in_pixels_with_scores(tmp_path):
    keypoints = np.zeros((2, 133, 3), dtype=np.float32)
    keypoints[:, 9] = [[100.0, 150.0, 0.9], [102.0, 151.0, 0.8]]  # the left wrist
    path = tmp_path / "keypoints.pkl"
    path.write_bytes(pickle.dumps({"train/01April_2010_Thursday_heute-6694": {"keypoints": keypoints}}))
    ((name, read),) = read_paper_pickle(path).items()
    assert name.endswith("heute-6694") and read.layout == "coco-wholebody" and read.units == "pixels"
    assert read.skeleton.joints[9] == "left_wrist"
    assert read.points[1, 9].tolist() == pytest.approx([102.0, 151.0, 0.0, 0.8])
    assert not read.found[0, 0]  # the nose: score 0
    write_paper_pickle(tmp_path / "again.pkl", {name: read})
    assert np.array_equal(read_paper_pickle(tmp_path / "again.pkl")[name].points, read.points)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ([1, 2], "expected {name: {'keypoints': T×133×3}}, got a list"),
        ({"a": {"keypoints": np.zeros((4, 17, 3))}}, r"a: expected 'keypoints' of T×133×3, got \(4, 17, 3\)"),
        ({"a": "not a dict"}, "a: expected 'keypoints' of T×133×3, got str"),
    ],
)
def test_a_malformed_paper_pickle_is_named(tmp_path, content, message):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(KeypointError, match=message):
        read_paper_pickle(path)


class Payload:
    """Stands for an object an untrusted pickle might build."""


def test_a_pickle_that_would_build_an_object_is_refused(tmp_path):
    path = tmp_path / "unsafe.pkl"
    path.write_bytes(pickle.dumps({"a": {"keypoints": Payload()}}))
    with pytest.raises(KeypointError, match="it pickles the Python object tests.test_keypoint_formats.Payload"):
        read_paper_pickle(path)


def test_a_pose_file_of_mediapipe_holistic_reads_back_in_our_joint_order(tmp_path):
    points = holistic() * np.array([640, 480, 640, 1], dtype=np.float32)
    keypoints = Keypoints(points, "mediapipe-holistic", "pixels", 640, 480, 25.0)
    write_pose_file(tmp_path / "sign.pose", keypoints)
    read = read_pose_file(tmp_path / "sign.pose")
    assert (read.width, read.height, read.fps, read.units) == (640, 480, 25.0, "pixels")
    np.testing.assert_allclose(read.points, keypoints.points, atol=1e-3)
    assert read.skeleton.joints[489 + 15] == "pose_left_wrist" and not read.found[1, 522:].any()


def test_a_pose_file_of_other_components_or_no_pose_file_is_named(tmp_path):
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import PoseHeader, PoseHeaderComponent, PoseHeaderDimensions

    component = PoseHeaderComponent("BODY_135", [f"p{i}" for i in range(135)], [], [], "XYC")
    header = PoseHeader(0.1, PoseHeaderDimensions(10, 10, 0), [component])
    body = NumPyPoseBody(25.0, np.zeros((2, 1, 135, 2), dtype=np.float32), np.ones((2, 1, 135), dtype=np.float32))
    with open(tmp_path / "other.pose", "wb") as stream:
        Pose(header, body).write(stream)
    with pytest.raises(KeypointError, match=r"other.pose: its components \['BODY_135'\] are not MediaPipe Holistic's"):
        read_pose_file(tmp_path / "other.pose")
    (tmp_path / "broken.pose").write_bytes(b"\x00\x01 not a pose file")
    with pytest.raises(KeypointError, match="broken.pose: not a readable .pose file"):
        read_pose_file(tmp_path / "broken.pose")


def test_the_kaggle_parquet_has_543_rows_a_frame_and_nan_where_not_found(tmp_path):
    keypoints = Keypoints(holistic(), "mediapipe-holistic", "normalised")
    write_kaggle_parquet(tmp_path / "1000035562.parquet", keypoints, first_frame=20)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "1000035562.parquet").to_pydict()
    assert table["row_id"][:2] == ["20-face-0", "20-face-1"] and len(table["frame"]) == 3 * 543
    right_hand = [
        i for i, (f, t) in enumerate(zip(table["frame"], table["type"], strict=True)) if (f, t) == (21, "right_hand")
    ]
    assert all(np.isnan(table["x"][i]) for i in right_hand)
    read = read_kaggle_parquet(tmp_path / "1000035562.parquet")
    assert read.units == "normalised" and read.layout == "mediapipe-holistic"
    np.testing.assert_allclose(read.points, keypoints.points, atol=1e-6)


def test_a_kaggle_parquet_missing_rows_or_of_unknown_parts_is_named(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {"frame": [0, 0], "row_id": ["0-face-0", "0-face-1"], "type": ["face", "face"]}
    columns |= {"landmark_index": [0, 1], "x": [0.5, 0.5], "y": [0.5, 0.5], "z": [0.0, 0.0]}
    pq.write_table(pa.table(columns), tmp_path / "short.parquet")
    with pytest.raises(KeypointError, match="short.parquet: frame 0 has 2 rows, not 543"):
        read_kaggle_parquet(tmp_path / "short.parquet")
    pq.write_table(pa.table({**columns, "type": ["face", "tail"]}), tmp_path / "odd.parquet")
    with pytest.raises(KeypointError, match="odd.parquet: landmark type 'tail' is none of"):
        read_kaggle_parquet(tmp_path / "odd.parquet")
    (tmp_path / "text.parquet").write_text("frame,x\n0,1\n")
    with pytest.raises(KeypointError, match="text.parquet: not a parquet of ASL Signs landmarks"):
        read_kaggle_parquet(tmp_path / "text.parquet")


def openpose_frame(wrist_x: float) -> dict:
    body = [0.0] * 75
    body[7 * 3 : 7 * 3 + 3] = [wrist_x, 200.0, 0.7]  # BODY_25 joint 7: the left wrist
    return {"people": [{"pose_keypoints_2d": body, "hand_left_keypoints_2d": [1.0, 2.0, 0.5] * 21}]}


def test_an_openpose_folder_is_one_frame_a_file_and_a_frame_without_anybody_is_not_found(tmp_path):
    for index, content in enumerate([openpose_frame(300.0), {"people": []}, openpose_frame(310.0)]):
        (tmp_path / f"video_{index:012d}_keypoints.json").write_text(json.dumps(content))
    read = read_openpose_folder(tmp_path)
    wrist = SKELETONS["openpose-137"].index("left_wrist")
    expected = [[300.0, 200.0, 0.0, 0.7], [0.0] * 4, [310.0, 200.0, 0.0, 0.7]]
    np.testing.assert_allclose(read.points[:, wrist], expected, rtol=1e-6)
    assert read.found[0, 25:46].all() and not read.found[0, 46:].any()  # the left hand found, not the right or face


def test_a_malformed_openpose_file_is_named(tmp_path):
    (tmp_path / "a_000000000000_keypoints.json").write_text(
        json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 405}]})
    )
    with pytest.raises(KeypointError, match="pose_keypoints_2d holds 135 points, not 25 \\(BODY_135 is not read yet"):
        read_openpose_folder(tmp_path)
    (tmp_path / "a_000000000000_keypoints.json").write_text("{not json")
    with pytest.raises(KeypointError, match="a_000000000000_keypoints.json: not an OpenPose keypoint file"):
        read_openpose_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(KeypointError, match="empty: no \\*_keypoints.json files"):
        read_openpose_folder(tmp_path / "empty")


def test_every_layouts_mirror_swaps_left_and_right_and_is_its_own_inverse():
    for skeleton in SKELETONS.values():
        mirror = skeleton.mirror
        assert all(mirror[mirror[i]] == i for i in range(len(mirror))), skeleton.name
        for i, name in enumerate(skeleton.joints):
            if i not in skeleton.unpaired and ("left" in name or "right" in name):
                other = skeleton.joints[mirror[i]]
                assert other == name.replace("left", "#").replace("right", "left").replace("#", "right"), name
    coco = SKELETONS["coco-wholebody"]
    assert coco.joints[coco.mirror[23]] == "face_16" and coco.mirror[23 + 30] == 23 + 30  # jaw ends swap; nose tip


def test_normalised_keypoints_become_pixels_with_the_frames_size():
    points = holistic(2)
    pixels = Keypoints(points, "mediapipe-holistic", "normalised", 200, 100).in_pixels()
    assert pixels.points[0, 0, :2].tolist() == pytest.approx([points[0, 0, 0] * 200, points[0, 0, 1] * 100])
    with pytest.raises(KeypointError, match="without the frame's size cannot become pixels"):
        Keypoints(points, "mediapipe-holistic", "normalised").in_pixels()
    with pytest.raises(KeypointError, match=r"expected T×543×4 points, got \(2, 10, 4\)"):
        Keypoints(points[:, :10], "mediapipe-holistic", "normalised")
