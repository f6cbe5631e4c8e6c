"""The paper code's recognition network weights load into ours and give its outputs (a fixture its code wrote).

``tests/fixtures/paper_recognition.pt`` was written by ``benchmarks/paper_agreement.py --tiny
--write-fixture`` with FangyunWei/SLRT's ``TwoStreamNetwork`` (S3D block 1, a visual head of 16/32
units over 7 glosses, seeded random weights and statistics, its outputs on two seeded videos).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from benchmarks import paper_agreement
from modelling.paper_weights import PaperWeightsError, load_recognition_weights, recognition_weights
from modelling.recognition import SignToGloss
from modelling.s3d import S3DBackbone
from modelling.visual_head import VisualHead
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "paper_recognition.pt"


@pytest.fixture(scope="module")
def paper() -> dict:
    return torch.load(FIXTURE, map_location="cpu", weights_only=True)


def network(variant: str = "paper", classes: int = 7, use_block: int = 1) -> SignToGloss:
    return SignToGloss(S3DBackbone(use_block, 0), VisualHead(64, classes, 16, 32, variant=variant)).eval()


def test_the_paper_variant_on_the_papers_weights_gives_its_gloss_logits_and_glosses(paper):
    difference, same, lengths = paper_agreement.compare(paper, str(FIXTURE))
    assert difference <= 1e-5 and same and lengths == paper["valid_len_out"].tolist() == [8, 6]


def test_our_own_head_on_the_same_weights_is_not_the_papers(paper):
    """The variant matters: without the paper's LayerNorm before the convolutions the logits move."""
    state = dict(recognition_weights(paper["model_state"], str(FIXTURE), "recognition_network."))
    state = {name: tensor for name, tensor in state.items() if not name.startswith("head.ff_norm.")}
    model = network("toolkit")
    model.load_state_dict(state)
    with torch.no_grad():
        video, length = paper["videos"][0], paper["lengths"][0]
        logits = model.head.classifier(model(video[None, :, :length], length[None]).gloss_features)[0]
    assert float((logits - paper["gloss_logits"][0]).abs().max()) > 1e-2


def test_a_vocabulary_of_another_size_is_one_error_naming_the_tensor_and_both_sizes(paper):
    model = network(classes=9)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(PaperWeightsError, match=r"head.classifier.weight: \(7, 16\) in the file, \(9, 16\) in this"):
        load_recognition_weights(model, paper["model_state"], "released.ckpt")
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())  # untouched


def test_another_use_block_and_a_missing_tensor_are_named(paper):
    with pytest.raises(PaperWeightsError, match=r"released.ckpt: no tensor for this network's encoder.features.2"):
        load_recognition_weights(network(use_block=2), paper["model_state"], "released.ckpt")
    state = {k: v for k, v in paper["model_state"].items() if "feedforward.layer_norm" not in k}
    with pytest.raises(PaperWeightsError, match="no tensor for this network's head.ff_norm.weight"):
        load_recognition_weights(network(), state, "released.ckpt")


def test_a_two_stream_file_or_an_unknown_head_tensor_is_named(paper):
    two_stream = {**paper["model_state"], "recognition_network.visual_backbone_keypoint.base.0.weight": torch.ones(1)}
    with pytest.raises(PaperWeightsError, match=r"released.ckpt: recognition_network.visual_backbone_keypoint"):
        load_recognition_weights(network(), two_stream, "released.ckpt")
    extra = {**paper["model_state"], "recognition_network.visual_head.ssl_projection.0.weight": torch.ones(1)}
    with pytest.raises(PaperWeightsError, match="visual_head.ssl_projection.0.weight: not a tensor of the paper's"):
        load_recognition_weights(network(), extra, "released.ckpt")
    table = paper["model_state"]["recognition_network.visual_head.pe.pe"]
    shifted = {**paper["model_state"], "recognition_network.visual_head.pe.pe": table + 0.1}
    with pytest.raises(PaperWeightsError, match="pe.pe differs from sinusoidal positions"):
        load_recognition_weights(network(), shifted, "released.ckpt")


@pytest.mark.skipif(
    not os.environ.get("SLRT_TWOSTREAM"), reason="set SLRT_TWOSTREAM to FangyunWei/SLRT's TwoStreamNetwork folder"
)
def test_the_agreement_script_runs_the_papers_code(capsys):
    assert paper_agreement.main(["--paper-code", str(Path(os.environ["SLRT_TWOSTREAM"])), "--tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert float(lines[1].rsplit(" ", 1)[1]) <= 1e-4 and lines[3].endswith("True")
