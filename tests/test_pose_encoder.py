"""The light pose encoder: per-part MLPs and a temporal convolution over selected keypoints."""

from __future__ import annotations

import pytest
import torch

from core.config import ConfigError, config_from_dict
from modelling.builders import build_recognition
from modelling.encoders import ENCODERS
from modelling.pose_encoder import PAPER_PARTS, PoseEncoder, PoseEncoderConfig
from modelling.recognition import RecognitionConfig, ctc_loss


def encoder() -> PoseEncoder:
    torch.manual_seed(0)
    return PoseEncoder(PAPER_PARTS, part_width=8, width=12).eval()


def test_features_one_per_frame_and_padding_stays_out():
    model = encoder()
    keypoints = torch.randn(2, 9, 79, 4)
    features, lengths = model(keypoints, torch.tensor([9, 5]))
    assert features.shape == (2, 9, 12) and lengths.tolist() == [9, 5] and model.temporal_stride == 1
    assert not features[1, 5:].any()  # padded frames are zero
    alone, _ = model(keypoints[1:, :5], torch.tensor([5]))
    torch.testing.assert_close(features[1, :5], alone[0])  # a sample's features do not depend on its batch


def test_each_part_has_its_own_mlp_and_depth_is_left_out():
    model = encoder()
    keypoints = torch.randn(1, 6, 79, 4)
    base, _ = model(keypoints, torch.tensor([6]))
    deeper = keypoints.clone()
    deeper[..., 2] += 5.0  # z: most extractors give none
    assert torch.equal(model(deeper, torch.tensor([6]))[0], base)
    moved = keypoints.clone()
    moved[:, 3, 20, 0] += 1.0  # a hand joint in frame 3
    changed = (model(moved, torch.tensor([6]))[0] - base).abs().sum(dim=-1)[0]
    assert changed[3] > 0 and changed[0] == 0  # the convolution (kernel 5) reaches two frames each side only
    assert len(model.part_layers) == 4 and model.part_layers[1][0].in_features == 42 * 3
    with pytest.raises(ValueError, match=r"takes 79 joints \(\(16, 42, 10, 11\)\), not 80"):
        model(torch.zeros(1, 4, 80, 4), torch.tensor([4]))


def test_a_recognition_network_over_it_trains_by_ctc():
    config = PoseEncoderConfig(part_width=8, width=16)
    recognition = build_recognition(RecognitionConfig(encoder=config, hidden_dim=16, ff_dim=32), config.build(False), 7)
    output = recognition(torch.randn(2, 10, 79, 4), torch.tensor([10, 8]))
    assert output.log_probs.shape == (2, 10, 7)
    ctc_loss(output.log_probs, output.lengths, [[4, 5], [6]]).loss.backward()
    assert recognition.encoder.part_layers[0][0].weight.grad.abs().sum() > 0


def test_the_config_registers_it_and_names_bad_settings():
    assert ENCODERS["pose_mlp"] is PoseEncoderConfig
    raw = {"task": "s2g", "data": {"train": "a", "dev": "b", "test": "c", "keypoints": {"path": "{split}.pkl"}}}
    raw |= {"training": {"model_dir": "m"}}
    config = config_from_dict({**raw, "recognition": {"encoder": {"type": "pose_mlp", "width": 32}}}, "s2g.yaml")
    assert config.recognition.encoder.output_width() == 32 and config.recognition.encoder.parts == [16, 42, 10, 11]
    with pytest.raises(ConfigError, match="kernel: 4 must be odd"):
        config_from_dict({**raw, "recognition": {"encoder": {"type": "pose_mlp", "kernel": 4}}}, "s2g.yaml")
    with pytest.raises(ConfigError, match="parts: expected a list of joint counts"):
        config_from_dict({**raw, "recognition": {"encoder": {"type": "pose_mlp", "parts": [16, 0]}}}, "s2g.yaml")
