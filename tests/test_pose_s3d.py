"""The paper's keypoint S3D: heatmaps of the joints on the device, then S3D over as many channels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from dataset.keypoint_preprocessing import PAPER_79
from dataset.keypoints import KeypointError, Keypoints
from dataset.sign_keypoints import prepared
from engine.jobs import training_run as training
from modelling.pose_s3d import PoseS3D, PoseS3DConfig
from modelling.s3d import S3DBackbone
from tests.test_keypoint_training import keypoint_config


def test_s3d_takes_as_many_input_channels_as_joints():
    backbone = S3DBackbone(1, 0, in_channels=79)
    assert backbone.features[0][0][0].weight.shape == (64, 79, 1, 7, 7)


def test_the_maps_are_drawn_where_the_joints_are_and_not_for_joints_not_found():
    encoder = PoseS3D(2, 1, 0, 0.1, map_size=16, sigma=1.0)
    keypoints = torch.tensor([[[[0.0, 0.0, 0.0, 1.0], [0.25, -0.25, 0.0, 0.0]]]])  # the middle; one not found
    maps = encoder.heatmaps(keypoints)  # B×N×T×S×S, in [-1, 1] as the paper's code normalises them
    assert maps.shape == (1, 2, 1, 16, 16) and maps[0, 0, 0, 8, 8] == 1.0 and (maps[0, 1] == -1).all()
    drawn = PoseS3D(2, 1, 0, 0.1, map_size=16, sigma=1.0, weight_by_confidence=False).heatmaps(keypoints)
    assert drawn[0, 1, 0, 4, 12] == 1.0  # the paper's code: every joint drawn (x 0.25 -> column 12, y -0.25 -> row 4)
    features, lengths = encoder(torch.rand(2, 12, 2, 4) - 0.5, torch.tensor([12, 8]))
    assert features.shape == (2, 6, 64) and lengths.tolist() == [6, 4]  # block 1: time stride 2


def test_frame_coordinates_need_the_frames_size():
    points = np.zeros((3, 133, 4), dtype=np.float32)
    points[..., 3] = 1.0
    points[:, 5, :2], points[:, 6, :2] = (150.0, 100.0), (50.0, 100.0)  # the shoulders, in a 200×200 frame
    frame = prepared(
        Keypoints(points, "coco-wholebody", "pixels"), PAPER_79, True, coordinates="frame", frame_size=(200, 200)
    )
    assert frame[0, PAPER_79.shoulders[0], :2].tolist() == [0.25, 0.0]
    with pytest.raises(KeypointError, match="set data.keypoints.frame_size"):
        prepared(Keypoints(points, "coco-wholebody", "pixels"), PAPER_79, True, coordinates="frame")


@pytest.mark.slow
def test_sign2gloss_trains_and_scores_with_the_keypoint_s3d(tmp_path):
    config = keypoint_config(tmp_path, epochs=2, validate_every=2)
    config["recognition"]["encoder"] = {"type": "pose_s3d", "use_block": 1, "map_size": 16, "sigma": 1.0}
    path = tmp_path / "s2g.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    assert training.main(["--config", str(path)]) == 0
    report = json.loads((tmp_path / "run" / "predictions" / "report.json").read_text())
    assert report["test"]["counts"]["samples"] == 30 and "wer" in report["test"]["metrics"]
    assert isinstance(PoseS3DConfig().build(False).backbone, S3DBackbone)
