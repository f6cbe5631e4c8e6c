import pytest
import torch
import torch.nn.functional as F

from modelling.encoders import StoredFeatures
from modelling.recognition import SignToGloss, ctc_loss, min_ctc_frames
from modelling.s3d import S3DBackbone
from modelling.visual_head import VisualHead


def test_min_frames_counts_blanks_between_repeats():
    assert min_ctc_frames([4, 5, 6]) == 3
    assert min_ctc_frames([4, 4, 5, 5, 5]) == 8
    assert min_ctc_frames([]) == 0


def test_ctc_loss_matches_torch_and_counts_infeasible_samples():
    torch.manual_seed(0)
    log_probs = torch.randn(3, 6, 5).log_softmax(-1).requires_grad_()
    lengths = torch.tensor([6, 5, 2])
    targets = [[1, 2, 3], [4, 4], [1, 1, 2]]  # the last needs 4 frames but has 2
    result = ctc_loss(log_probs, lengths, targets)
    assert result.num_infeasible == 1
    reference = F.ctc_loss(
        log_probs[:2].transpose(0, 1),
        torch.tensor([1, 2, 3, 4, 4]),
        lengths[:2],
        torch.tensor([3, 2]),
        reduction="none",
    )
    expected = (reference / torch.tensor([3.0, 2.0])).sum() / 3
    assert result.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    result.loss.backward()
    assert torch.isfinite(log_probs.grad).all()


def test_sign_to_gloss_on_videos_and_on_features():
    head = VisualHead(input_dim=832, num_classes=9, hidden_dim=16, ff_dim=32)
    model = SignToGloss(S3DBackbone(use_block=4), head).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 12, 32, 32), torch.tensor([12, 7]))
    assert out.log_probs.shape == (2, 3, 9) and out.lengths.tolist() == [3, 2]
    torch.testing.assert_close(out.log_probs.exp().sum(-1), torch.ones(2, 3))
    features_only = SignToGloss(StoredFeatures(832), head).eval()
    with torch.no_grad():
        out = features_only(torch.randn(2, 5, 832), torch.tensor([5, 3]))
    assert out.gloss_features.shape == (2, 5, 16)


def test_the_network_on_videos_traces_as_one_graph_for_torch_compile():
    """No graph break in S3D and the visual head while training: torch.compile can take them whole."""
    torch._dynamo.reset()
    model = SignToGloss(S3DBackbone(use_block=4), VisualHead(832, 20)).train()
    explained = torch._dynamo.explain(model)(torch.randn(2, 3, 16, 32, 32), torch.tensor([16, 12]))
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons


def test_weights_saved_when_the_encoder_was_called_backbone_load_as_they_are():
    torch.manual_seed(0)
    model = SignToGloss(S3DBackbone(use_block=1), VisualHead(64, 5, hidden_dim=8, ff_dim=16))
    old = {key.replace("encoder.", "backbone.", 1): value for key, value in model.state_dict().items()}
    assert any(key.startswith("backbone.") for key in old) and not any(k.startswith("encoder.") for k in old)
    fresh = SignToGloss(S3DBackbone(use_block=1), VisualHead(64, 5, hidden_dim=8, ff_dim=16))
    fresh.load_state_dict(old)  # strict
    assert all(torch.equal(fresh.state_dict()[key], value) for key, value in model.state_dict().items())
    assert SignToGloss.renamed_modules == {"backbone": "encoder"}  # so module_learning_rates.backbone works too
