"""The paper's TwoStream S2G checkpoints: every tensor has its place in the two-stream network, at its shape.

``tests/fixtures/paper_two_stream_layout.json`` lists the names and shapes of the tensors of the
paper's two-stream RecognitionNetwork (its released S2G configuration, 79 joints, heads 512/2048,
46 glosses), written from its code by ``benchmarks/paper_agreement.py --paper-code PATH
--two-stream-only --write-layout FILE``; that script also compares the imported network's outputs
with the paper's code on the same weights (the last test, with the paper's code at hand).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from benchmarks import paper_agreement
from checkpoint_conversion.slrt_single_stream import head_architecture
from checkpoint_conversion.slrt_two_stream import two_stream_architecture
from checkpoint_conversion.slrt_weights import PaperWeightsError, two_stream_weights
from modelling.builders import build_recognition
from modelling.recognition import RecognitionConfig
from modelling.two_stream import TwoStreamConfig
from modelling.visual_head import sinusoidal_positions
from tests.conftest import ROOT
from tests.test_slrt_single_stream import FIXTURE, nothing_written, run_import, s2g_config

LAYOUT = ROOT / "tests" / "fixtures" / "paper_two_stream_layout.json"
BACKBONE = "recognition_network.visual_backbone_twostream."


def paper_state() -> dict[str, torch.Tensor]:
    """The paper's tensors without their values (meta tensors); its positional tables as they are."""
    layout = json.loads(LAYOUT.read_text(encoding="utf-8"))
    return {
        name: sinusoidal_positions(*shape[1:])[None] if name.endswith("pe.pe") else torch.empty(shape, device="meta")
        for name, shape in layout.items()
    }


def test_the_papers_tensors_are_the_two_stream_networks_name_for_name_and_shape_for_shape():
    weights = two_stream_weights(paper_state(), "paper.pth")
    raw = {"task": "s2g"}
    two_stream_architecture(raw, weights, "paper.pth")
    head_architecture(raw, weights, "paper.pth", head="heads.video.")
    encoder = raw["recognition"]["encoder"]
    assert (encoder["type"], encoder["joints"], encoder["lateral_kernel"]) == ("two_stream", 79, [7, 3, 3])
    assert encoder["lateral_to_video"] and encoder["lateral_to_keypoints"]
    assert (raw["recognition"]["hidden_dim"], raw["recognition"]["ff_dim"]) == (512, 2048)
    settings = {k: v for k, v in encoder.items() if k not in ("type", "weights")}
    cfg = RecognitionConfig(encoder=TwoStreamConfig(**settings), head_variant="paper", hidden_dim=512, ff_dim=2048)
    with torch.device("meta"):
        network = build_recognition(cfg, cfg.encoder.build(False), 46)
    ours = {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}
    assert {name: tuple(tensor.shape) for name, tensor in weights.items()} == ours


def test_heads_and_lateral_connections_of_equal_shapes_go_where_the_paper_has_them():
    """Shapes cannot tell these apart (the paper's code can: ``benchmarks/paper_agreement.py``)."""
    state = {name: torch.zeros(1) for name in paper_state() if not name.endswith("pe.pe")}
    names = {paper: ours for paper, ours in zip(state, two_stream_weights(state, "paper.pth"), strict=True)}
    expected = {
        f"{BACKBONE}rgb_stream_lateral.2.conv.weight": "encoder.to_video.2.weight",  # keypoints -> video
        f"{BACKBONE}pose_stream_lateral.0.conv.weight": "encoder.to_keypoints.0.weight",
        f"{BACKBONE}pose_stream.pyramid.upsample_layers.1.bn_t.running_var": "encoder.keypoint_pyramid.steps.1."
        "temporal_norm.0.running_var",
        "recognition_network.visual_head.fc1.weight": "heads.video.projection.weight",
        "recognition_network.visual_head_keypoint.gloss_output_layer.bias": "heads.keypoints.classifier.bias",
        "recognition_network.visual_head_fuse.bn1.norm.running_mean": "heads.fusion.norm.running_mean",
        "recognition_network.visual_head_remain.1.layer_norm.weight": "aux_heads.video.1.layer_norm.weight",
        "recognition_network.visual_head_keypoint_remain.0.feedforward.pwff_layer.3.weight": "aux_heads.keypoints.0."
        "conv2.weight",
    }
    assert {paper: names[paper] for paper in expected} == expected


def test_a_tensor_of_no_place_and_a_single_stream_file_are_one_error(tmp_path, capsys):
    with pytest.raises(PaperWeightsError, match=r"recognition_network.visual_head_extra.fc1.weight: not a tensor"):
        two_stream_weights({"recognition_network.visual_head_extra.fc1.weight": torch.zeros(1)}, "paper.pth")
    argv = ["--format", "slrt-two-stream", "--stage", "s2g", "--checkpoint", str(FIXTURE / "s2g.pth")]
    argv += ["--glosses", str(FIXTURE / "gloss2ids.pkl"), "--config", str(s2g_config(tmp_path))]
    code, err = run_import([*argv, "--output", str(tmp_path / "run")], capsys)
    assert code == 2 and nothing_written(tmp_path / "run")
    assert err.strip() == (
        f"error: {FIXTURE / 's2g.pth'}: no {BACKBONE} tensors: not a TwoStream S2G checkpoint "
        "(a SingleStream one imports with --format slrt-single-stream)"
    )


@pytest.mark.skipif(
    not os.environ.get("SLRT_TWOSTREAM"), reason="set SLRT_TWOSTREAM to FangyunWei/SLRT's TwoStreamNetwork folder"
)
def test_the_imported_two_stream_network_gives_the_papers_outputs(tmp_path, capsys):
    layout = tmp_path / "layout.json"
    argv = ["--paper-code", str(Path(os.environ["SLRT_TWOSTREAM"])), "--two-stream-only", "--write-layout", str(layout)]
    assert paper_agreement.main(argv) == 0
    (line,) = capsys.readouterr().out.splitlines()[1:]
    assert float(line.split("(every head) ")[1].split(",")[0]) < 1e-4 and "the same: True" in line
    assert json.loads(layout.read_text()) == json.loads(LAYOUT.read_text())
