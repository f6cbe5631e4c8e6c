import pytest
import torch

from modelling.s3d import (
    BackboneError,
    S3DBackbone,
    fold_batch_norms,
    load_kinetics_weights,
    select_backbone_weights,
)
from tests.conftest import SHARED

REFERENCE = SHARED / "reference" / "s3d_torchvision_reference.pt"
LAYOUT = SHARED / "reference" / "s3d_torchvision_state_dict.txt"


@pytest.mark.skipif(not REFERENCE.is_file(), reason="../shared/reference is not present")
def test_reproduces_torchvision_reference_vector():
    reference = torch.load(REFERENCE, weights_only=False)
    backbone = S3DBackbone(use_block=4)
    backbone.load_state_dict(select_backbone_weights(reference["state_dict"], 4))
    backbone.eval()
    with torch.no_grad():
        output = backbone.features(reference["input"])
    assert output.shape == reference["features_block4"].shape == (1, 832, 4, 4, 4)
    assert (output - reference["features_block4"]).abs().max().item() <= 1e-4


@pytest.mark.skipif(not LAYOUT.is_file(), reason="../shared/reference is not present")
def test_parameter_names_and_shapes_follow_torchvision():
    layout = {}
    for line in LAYOUT.read_text().splitlines():
        key, shape = line.split(" ", 1)
        layout[key] = tuple(int(s) for s in shape.strip("()").split(",") if s.strip())
    ours = {k: tuple(v.shape) for k, v in S3DBackbone(use_block=5).state_dict().items()}
    assert ours == {k: v for k, v in layout.items() if k.startswith("features.")}


def test_kinetics_file_with_classifier_loads(tmp_path):
    full = S3DBackbone(use_block=5).state_dict()
    full["classifier.1.weight"] = torch.zeros(400, 1024, 1, 1, 1)
    torch.save(full, tmp_path / "s3d_kinetics400.pt")
    backbone = S3DBackbone(use_block=4)
    load_kinetics_weights(backbone, tmp_path / "s3d_kinetics400.pt")
    torch.testing.assert_close(backbone.features[12].branch0[0].weight, full["features.12.branch0.0.weight"])
    with pytest.raises(BackboneError, match="S3D weights not found"):
        load_kinetics_weights(backbone, tmp_path / "absent.pt")
    torch.save({"something": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(BackboneError, match="not S3D weights"):
        load_kinetics_weights(backbone, tmp_path / "other.pt")


@pytest.mark.parametrize(("frames", "expected"), [(13, 4), (16, 4), (17, 5), (3, 1)])
def test_output_shapes_and_lengths_for_odd_lengths(frames, expected):
    backbone = S3DBackbone(use_block=4).eval()
    videos = torch.randn(2, 3, frames, 32, 32)
    lengths = torch.tensor([frames, max(frames - 6, 1)])
    with torch.no_grad():
        features, out_lengths = backbone(videos, lengths)
    assert features.shape == (2, expected, 832)
    assert out_lengths.tolist() == [expected, min(-(-max(frames - 6, 1) // 4), expected)]


def test_frozen_blocks_get_no_gradient_and_stay_in_eval_mode():
    backbone = S3DBackbone(use_block=3, freeze_block=2).train()
    assert all(not m.training for layer in backbone.features[:4] for m in layer.modules())
    assert all(m.training for layer in backbone.features[4:] for m in layer.modules())
    running = backbone.features[0][0][1].running_mean.clone()
    features, _ = backbone(torch.randn(2, 3, 8, 32, 32), torch.tensor([8, 8]))
    features.sum().backward()
    assert all(p.grad is None for p in backbone.features[:4].parameters())
    assert all(p.grad is not None for p in backbone.features[4:].parameters())
    assert torch.equal(backbone.features[0][0][1].running_mean, running)


def test_invalid_block_settings():
    with pytest.raises(BackboneError, match="use_block"):
        S3DBackbone(use_block=6)
    with pytest.raises(BackboneError, match="freeze_block"):
        S3DBackbone(use_block=2, freeze_block=3)


def with_running_statistics(backbone: S3DBackbone) -> S3DBackbone:
    """``backbone`` with batch norm statistics and affine parameters other than 0 and 1, so that they matter."""
    for module in backbone.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.2, 0.2)
    return backbone


@pytest.mark.parametrize(("frames", "use_block"), [(33, 4), (34, 4), (71, 1), (150, 2)])
def test_inference_in_time_chunks_equals_the_whole_video(frames, use_block):
    """Block 1 without autograd runs in chunks of 8 output frames here: the features are the same."""
    torch.manual_seed(0)
    backbone = S3DBackbone(use_block=use_block).eval()
    with_running_statistics(backbone)
    videos, lengths = torch.randn(2, 3, frames, 32, 32), torch.tensor([frames, frames - 5])
    with torch.no_grad():
        whole, whole_lengths = backbone(videos, lengths)
        backbone.stem_chunk = 8
        chunked, chunked_lengths = backbone(videos, lengths)
    assert torch.equal(chunked_lengths, whole_lengths)
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("frames", [12, 40])  # 40 frames with stem_chunk 8: block 1 in time chunks
def test_folded_batch_norms_give_the_same_features(frames):
    torch.manual_seed(0)
    backbone = with_running_statistics(S3DBackbone(use_block=4)).eval()
    backbone.stem_chunk = 8
    videos, lengths = torch.randn(2, 3, frames, 32, 32), torch.tensor([frames, frames - 3])
    with torch.no_grad():
        reference, reference_lengths = backbone(videos, lengths)
        assert fold_batch_norms(backbone) is backbone
        features, feature_lengths = backbone(videos, lengths)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in backbone.modules())
    assert torch.equal(feature_lengths, reference_lengths)
    torch.testing.assert_close(features, reference, rtol=1e-5, atol=1e-5)


def test_a_folded_backbone_refuses_to_train():
    backbone = fold_batch_norms(S3DBackbone(use_block=2).train())
    assert not backbone.training
    with pytest.raises(BackboneError, match="folded"):
        backbone.train()
