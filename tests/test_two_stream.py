"""The paper's two-stream network: its layout, the exchange between the streams, its loss, the paired input."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

import extract_feature
from core.config import ConfigError, config_from_dict
from core.run_directory import RunDirectory
from dataset.sign_two_stream import TwoStreamDataset, crop_keypoints
from dataset.sign_video import LoadedVideo, SkippedVideo, VideoExample
from dataset.video_transforms import crop_boxes
from engine.checkpoint import load_checkpoint
from engine.distributed import setup_distributed
from engine.jobs import training_run as training
from engine.tasks.registry import build_task
from engine.tasks.sign_to_text import SignToTextTask
from modelling.builders import build_recognition
from modelling.pose_encoder import PoseEncoderConfig
from modelling.recognition import RecognitionConfig
from modelling.two_stream import TwoStreamConfig, TwoStreamOutput, _distillation, lateral
from tests.conftest import tiny_s2g_config


def tiny_network(**encoder):
    torch.manual_seed(0)
    values = {"joints": 5, "map_size": 16, "sigma": 1.0, "bn_momentum": 0.1, "freeze_block": 0, **encoder}
    cfg = RecognitionConfig(encoder=TwoStreamConfig(**values), hidden_dim=16, ff_dim=32, dropout=0.0)
    return build_recognition(cfg, cfg.encoder.build(False), 7).eval()


def test_the_lateral_connections_are_the_papers():
    to_video, to_keypoints = lateral(64, True), lateral(64, False)
    assert isinstance(to_video, torch.nn.ConvTranspose3d) and isinstance(to_keypoints, torch.nn.Conv3d)
    for conv in (to_video, to_keypoints):
        assert conv.kernel_size == (7, 3, 3) and conv.stride == (1, 2, 2) and conv.bias is None
    pose, video = torch.randn(1, 64, 5, 8, 8), torch.randn(1, 64, 5, 16, 16)
    assert to_video(pose).shape == video.shape and to_keypoints(video).shape == pose.shape


def test_the_networks_layout_names_each_part_as_the_paper_has_it():
    shapes = {name: tuple(p.shape) for name, p in tiny_network().named_parameters()}
    assert shapes["encoder.keypoints.backbone.features.0.0.0.weight"] == (64, 5, 1, 7, 7)  # one channel per joint
    assert shapes["encoder.video.features.0.0.0.weight"] == (64, 3, 1, 7, 7)
    laterals = [(480, 480, 7, 3, 3), (192, 192, 7, 3, 3), (64, 64, 7, 3, 3)]
    assert [shapes[f"encoder.to_video.{i}.weight"] for i in (2, 1, 0)] == laterals
    assert [shapes[f"encoder.to_keypoints.{i}.weight"] for i in (2, 1, 0)] == laterals
    assert shapes["encoder.video_pyramid.steps.0.spatial.weight"] == (832, 480, 1, 3, 3)  # 832 -> 480, time x2
    assert shapes["encoder.video_pyramid.steps.0.temporal.weight"] == (480, 480, 3, 1, 1)
    assert shapes["encoder.keypoint_pyramid.steps.1.spatial.weight"] == (480, 192, 1, 3, 3)
    assert shapes["heads.fusion.projection.weight"] == (16, 2 * 832)  # both top levels, keypoints first
    assert [shapes[f"aux_heads.video.{i}.projection.weight"][1] for i in (0, 1)] == [192, 480]
    assert [shapes[f"aux_heads.keypoints.{i}.classifier.weight"][0] for i in (0, 1)] == [7, 7]


def test_each_stream_hears_the_other_only_through_its_lateral_connections():
    videos, keypoints, lengths = torch.randn(2, 3, 8, 32, 32), torch.rand(2, 8, 5, 4) - 0.5, torch.tensor([8, 8])
    keypoints[..., 3] = 1.0
    moved = keypoints.clone()
    moved[..., :2] = -moved[..., :2]  # every joint elsewhere
    with torch.no_grad():  # training mode: batch statistics, so the random network's activations do not fade
        network = tiny_network().train()
        first, second = network((videos, keypoints), lengths), network((videos, moved), lengths)
        assert (first.heads["video"] - second.heads["video"]).abs().max() > 1e-3
        deaf = tiny_network(lateral_to_video=False).train()
        first, second = deaf((videos, keypoints), lengths), deaf((videos, moved), lengths)
        torch.testing.assert_close(first.heads["video"], second.heads["video"], rtol=0, atol=1e-6)
        assert (first.heads["keypoints"] - second.heads["keypoints"]).abs().max() > 1e-3


def test_the_output_is_the_average_of_the_heads_probabilities_and_lengths_follow_each_level():
    network = tiny_network()
    with torch.no_grad():
        output = network((torch.randn(2, 3, 10, 32, 32), torch.rand(2, 10, 5, 4) - 0.5), torch.tensor([10, 7]))
    average = torch.stack([output.heads[h].exp() for h in ("video", "keypoints", "fusion")]).mean(dim=0)
    torch.testing.assert_close(output.log_probs.exp(), average)
    assert output.lengths.tolist() == [3, 2]  # 10 frames padded to 12, time stride 4
    assert [lengths.tolist() for _, _, lengths in output.aux] == [[5, 4]] * 4  # blocks 2 and 3: stride 2


def test_distillation_is_the_kl_from_the_detached_average_over_valid_frames_per_gloss():
    teacher = torch.tensor([[[0.5, 0.5], [0.9, 0.1], [0.3, 0.7]]])
    student = torch.tensor([[[0.25, 0.75], [0.5, 0.5], [0.1, 0.9]]]).log()
    mask = torch.tensor([[True, True, False]])
    expected = (0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75) + 0.9 * math.log(1.8) + 0.1 * math.log(0.2)) / 2
    assert _distillation(teacher, student, mask, torch.tensor([2])).item() == pytest.approx(expected, rel=1e-5)
    same = torch.tensor([[[0.2, 0.8]]]).log()
    output = TwoStreamOutput(None, same, torch.tensor([1]), {h: same for h in ("video", "keypoints", "fusion")}, [],
                             {"video": 0.2, "keypoints": 0.5, "distillation": 1.0})  # fmt: skip
    _, parts = output.training_loss([[1]])
    assert parts["distillation"].item() == pytest.approx(0.0, abs=1e-7)
    assert set(parts) == {"ctc_video", "ctc_keypoints", "ctc_fusion", "distillation"}


def test_the_keypoints_take_the_videos_frames_and_crop():
    whole = crop_boxes((2, 4, 16, 16, 3), training=False)
    points = torch.tensor([[[[0.25, -0.5, 0.0, 1.0]]]]).expand(2, 1, 1, 4)
    torch.testing.assert_close(crop_keypoints(points, whole), points)
    right_half = torch.tensor([[0.5, 0.0, 1.0, 2.0]])  # centre x 0.5 in [-1, 1] units, half the width
    assert crop_keypoints(points[:1], right_half)[0, 0, 0, :2].tolist() == [0.0, -0.5]
    example = VideoExample("a", "a.mp4", [1], "A", 6)
    loaded = LoadedVideo(example, torch.zeros(3, 4, 4, 3, dtype=torch.uint8), False, [0, 2, 5], 6)

    class Videos:
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return loaded

    keypoints = np.arange(6, dtype=np.float32)[:, None, None] * np.ones((6, 2, 4), dtype=np.float32)
    assert TwoStreamDataset(Videos(), [keypoints])[0].keypoints[:, 0, 0].tolist() == [0.0, 2.0, 5.0]
    skipped = TwoStreamDataset(Videos(), [keypoints[:5]])[0]
    assert isinstance(skipped, SkippedVideo) and "keypoints have 5 frames, its video 6" in skipped.reason


def two_stream_config(tmp_path, **encoder) -> dict:
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "run")
    config["data"]["keypoints"] = {"path": str(tmp_path / "data" / "{split}.keypoints.pkl")}
    config["recognition"]["encoder"] = {
        "type": "two_stream", "map_size": 16, "sigma": 1.0, "bn_momentum": 0.1, "lateral_kernel": [1, 1, 1],
        "freeze_block": 0, **encoder,
    }  # fmt: skip
    return config


def test_a_two_stream_config_must_fit_the_video_and_leave_the_keypoints_augmentation_to_it(tmp_path):
    config = two_stream_config(tmp_path, map_size=32)
    with pytest.raises(ConfigError, match=r"map_size \(32\) must be half data.video.img_size \(32\)"):
        config_from_dict(config, "s2g.yaml")
    config = two_stream_config(tmp_path)
    config["data"]["keypoints"]["rotation"] = 5.0
    with pytest.raises(ConfigError, match="data.keypoints.rotation: the two-stream network's keypoints follow"):
        config_from_dict(config, "s2g.yaml")
    with pytest.raises(ValueError, match="multiple of 16"):
        TwoStreamConfig(map_size=24)


@pytest.mark.slow
def test_sign2gloss_trains_the_two_stream_network_and_scores_each_head(tmp_path, capsys):
    path = tmp_path / "s2g.yaml"
    path.write_text(yaml.safe_dump(two_stream_config(tmp_path)), encoding="utf-8")
    assert training.main(["--config", str(path)]) == 0
    metrics = json.loads((tmp_path / "run" / "predictions" / "report.json").read_text())["test"]["metrics"]
    assert {"wer", "wer_video", "wer_keypoints", "wer_fusion"} <= set(metrics)
    log = (tmp_path / "run" / "train.log").read_text()
    assert "ctc_keypoints" in log and "distillation" in log
    assert extract_feature.main(["--config", str(tmp_path / "run" / "config.yaml")]) == 2
    assert "error: extract_feature.py: the two-stream network's features are not stored yet" in capsys.readouterr().err
    trained = load_checkpoint(RunDirectory(tmp_path / "run").best_checkpoint)
    starts = {"video_run": ("encoder.video.", "video"), "keypoint_run": ("encoder.keypoints.", "keypoints")}
    for key, (prefix, head) in starts.items():  # single-stream runs, as an s3d and a pose_s3d S2G save them
        model = {"encoder." + k[len(prefix) :]: v for k, v in trained["model"].items() if k.startswith(prefix)}
        model |= {
            "head." + k[len(f"heads.{head}.") :]: v
            for k, v in trained["model"].items()
            if k.startswith(f"heads.{head}.")
        }
        (tmp_path / key).mkdir()
        torch.save({"model": model, "metadata": trained["metadata"]}, RunDirectory(tmp_path / key).best_checkpoint)
    config = two_stream_config(tmp_path, **{key: str(tmp_path / key) for key in starts})
    config["training"]["model_dir"] = str(tmp_path / "started")
    task = build_task(config_from_dict(config, "s2g.yaml"), setup_distributed("cpu"))
    task.prepare(create=True)
    started = task.build_model().state_dict()
    for name in ("encoder.video.features.5.branch0.0.weight", "encoder.keypoints.backbone.features.0.0.0.weight"):
        assert torch.equal(started[name], trained["model"][name])
    assert torch.equal(started["heads.keypoints.classifier.bias"], trained["model"]["heads.keypoints.classifier.bias"])
    assert not torch.equal(
        started["heads.fusion.classifier.weight"], trained["model"]["heads.fusion.classifier.weight"]
    )


def test_sign2text_refuses_the_two_stream_network_and_keypoints_end_to_end_in_one_line():
    def config(encoder, features=None):
        return SimpleNamespace(recognition=SimpleNamespace(encoder=encoder), s2t=SimpleNamespace(features=features))

    with pytest.raises(ConfigError, match="Sign2Text over the two-stream network .* is not there yet"):
        SignToTextTask.check_config(config(TwoStreamConfig()), "s2t.yaml")
    with pytest.raises(ConfigError, match="reads keypoints: extract its features"):
        SignToTextTask.check_config(config(PoseEncoderConfig()), "s2t.yaml")
