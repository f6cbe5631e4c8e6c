"""The paper's SingleStream checkpoints, imported by ``import_checkpoint.py``, give its code's outputs; bad files named.

``tests/fixtures/paper_single_stream/`` was written by ``benchmarks/paper_agreement.py --tiny
--write-fixture`` with FangyunWei/SLRT's ``TwoStreamNetwork``: its S2G (S3D block 1, a visual head of
16/32 units), G2T (a 16-wide mBART) and S2T networks (the MLP mapper and the one over gloss
probabilities) with seeded random weights, saved as its checkpoints with its vocabulary files, and
their outputs on seeded inputs.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
import yaml

import export
import import_checkpoint
import translate
from benchmarks import paper_agreement
from checkpoint_conversion.foreign_files import read_plain_pickle
from checkpoint_conversion.slrt_vocabularies import recognition_glosses
from checkpoint_conversion.slrt_weights import RECOGNITION, PaperWeightsError, load_exactly, recognition_weights
from engine.jobs import prediction
from engine.jobs import training_run as training
from modelling.recognition import SignToGloss
from modelling.s3d import S3DBackbone, load_kinetics_weights
from modelling.visual_head import VisualHead
from tests.conftest import ROOT, json_lines, tiny_s2g_config

FIXTURE = ROOT / "tests" / "fixtures" / "paper_single_stream"


@pytest.fixture(scope="module")
def agreement(tmp_path_factory) -> dict:
    return paper_agreement.compare(FIXTURE, tmp_path_factory.mktemp("imported"))


@pytest.mark.parametrize("stage", paper_agreement.STAGES)
def test_each_imported_run_gives_the_paper_codes_outputs(agreement, stage):
    results = agreement[stage]
    assert all(results[name] <= 1e-4 for name in ("gloss logits", "translator logits") if name in results)
    assert all(results[name] for name in ("glosses the same", "generated ids the same") if name in results)


def test_the_s2t_imports_take_the_mapper_their_weights_have(agreement):
    assert (agreement["s2t"]["mapper"], agreement["s2t_embedding"]["mapper"]) == ("mlp", "gloss_probabilities")


def load_recognition(model: SignToGloss, state: dict, source: str) -> None:
    """The paper's recognition network of ``state`` into ``model``, its classes in the file's order."""
    load_exactly(model, recognition_weights(state, source, RECOGNITION), source)


def network(variant: str = "paper", classes: int = 46, use_block: int = 1) -> SignToGloss:
    return SignToGloss(S3DBackbone(use_block, 0), VisualHead(64, classes, 16, 32, variant=variant)).eval()


@pytest.fixture(scope="module")
def s2g_state() -> dict:
    return torch.load(FIXTURE / "s2g.pth", map_location="cpu", weights_only=False)["model_state"]


def test_our_own_head_on_the_same_weights_is_not_the_papers(s2g_state):
    """The variant matters: without the paper's LayerNorm before the convolutions the logits move."""
    outputs = torch.load(FIXTURE / "outputs.pt", weights_only=True)["s2g"]
    state = recognition_weights(s2g_state, "s2g.pth", "recognition_network.")
    model = network("toolkit")
    model.load_state_dict({name: tensor for name, tensor in state.items() if not name.startswith("head.ff_norm.")})
    video = outputs["videos"][0]
    with torch.no_grad():
        logits = model.head.classifier(model(video[None], torch.tensor([video.shape[1]])).gloss_features)[0]
    assert float((logits - outputs["gloss_logits"][0]).abs().max()) > 1e-2


def test_a_network_of_other_sizes_or_a_missing_tensor_is_named_and_left_as_it_was(s2g_state):
    model = network(classes=9)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(PaperWeightsError, match=r"head.classifier.weight: \(46, 16\) in the file, \(9, 16\) in this"):
        load_recognition(model, s2g_state, "released.ckpt")
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    with pytest.raises(PaperWeightsError, match=r"released.ckpt: no tensor for this network's encoder.features.2"):
        load_recognition(network(use_block=2), s2g_state, "released.ckpt")
    state = {k: v for k, v in s2g_state.items() if "feedforward.layer_norm" not in k}
    with pytest.raises(PaperWeightsError, match="no tensor for this network's head.ff_norm.weight"):
        load_recognition(network(), state, "released.ckpt")


def test_an_unknown_head_tensor_or_another_positional_table_is_named(s2g_state):
    extra = {**s2g_state, "recognition_network.visual_head.ssl_projection.0.weight": torch.ones(1)}
    with pytest.raises(PaperWeightsError, match="visual_head.ssl_projection.0.weight: not a tensor of the paper's"):
        load_recognition(network(), extra, "released.ckpt")
    table = s2g_state["recognition_network.visual_head.pe.pe"]
    shifted = {**s2g_state, "recognition_network.visual_head.pe.pe": table + 0.1}
    with pytest.raises(PaperWeightsError, match="pe.pe differs from sinusoidal positions"):
        load_recognition(network(), shifted, "released.ckpt")


# ----- import_checkpoint.py: its errors, and what it writes -------------------------------------------------------


def write_yaml(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def s2g_config(tmp_path: Path, **recognition) -> Path:
    data = {"train": "unused", "dev": "unused", "test": "unused", "video": {"root": "unused"}}
    config = {"task": "s2g", "data": data, "training": {"model_dir": "unused"}}
    return write_yaml(tmp_path / "s2g.yaml", {**config, "recognition": recognition} if recognition else config)


def run_import(argv: list[str], capsys) -> tuple[int, str]:
    code = import_checkpoint.main(argv)
    return code, capsys.readouterr().err


def s2g_argv(tmp_path: Path, checkpoint: Path = FIXTURE / "s2g.pth", glosses: Path = FIXTURE / "gloss2ids.pkl"):
    config = s2g_config(tmp_path)
    return ["--stage", "s2g", "--checkpoint", str(checkpoint), "--glosses", str(glosses), "--config", str(config)]


def nothing_written(output: Path) -> bool:
    return not output.exists() and not output.with_name(output.name + ".partial").exists()


def modified_checkpoint(tmp_path: Path, name: str, change) -> Path:
    checkpoint = torch.load(FIXTURE / name, map_location="cpu", weights_only=False)
    change(checkpoint)
    torch.save(checkpoint, tmp_path / name)
    return tmp_path / name


def test_a_recognition_vocabulary_of_another_size_is_one_error_and_nothing_is_written(tmp_path, capsys):
    """The paper code's issues #23/#39: a gloss2ids.pkl that is not the checkpoint's."""
    with open(FIXTURE / "gloss2ids.pkl", "rb") as stream:
        glosses = pickle.load(stream)
    glosses["one-more-gloss"] = len(glosses)
    with open(tmp_path / "gloss2ids.pkl", "wb") as stream:
        pickle.dump(glosses, stream)
    output = tmp_path / "run"
    code, err = run_import([*s2g_argv(tmp_path, glosses=tmp_path / "gloss2ids.pkl"), "--output", str(output)], capsys)
    assert code == 2 and nothing_written(output)
    assert err.strip() == (
        f"error: {FIXTURE / 's2g.pth'}: recognition_network.visual_head.gloss_output_layer: "
        "46 entries in the file, 47 in its vocabulary"
    )


def test_a_text_vocabulary_of_another_size_is_named_with_the_tensor(tmp_path, capsys):
    mbart = tmp_path / "mBart"
    shutil.copytree(FIXTURE / "mBart", mbart)
    with open(mbart / "map_ids.pkl", "rb") as stream:
        map_ids = pickle.load(stream)
    last = max(map_ids, key=map_ids.get)
    del map_ids[last]  # one piece fewer than the checkpoint's vocabulary
    with open(mbart / "map_ids.pkl", "wb") as stream:
        pickle.dump(map_ids, stream)
    config = write_yaml(tmp_path / "g2t.yaml", {"task": "g2t", "data": UNUSED_DATA, "training": {"model_dir": "x"}})
    output = tmp_path / "run"
    argv = ["--stage", "g2t", "--checkpoint", str(FIXTURE / "g2t.pth"), "--mbart", str(mbart)]
    code, err = run_import([*argv, "--config", str(config), "--output", str(output)], capsys)
    assert code == 2 and nothing_written(output)
    assert "g2t.pth: translation_network.model.final_logits_bias: 102 entries in the file, 101 in its vocabulary" in err


UNUSED_DATA = {"train": "unused", "dev": "unused", "test": "unused", "src_lang": "de_DE", "tgt_lang": "de_DE"}


def test_a_missing_tensor_and_a_two_stream_file_are_named(tmp_path, capsys):
    missing = modified_checkpoint(
        tmp_path, "s2g.pth", lambda c: c["model_state"].pop("recognition_network.visual_head.layer_norm.bias")
    )
    code, err = run_import([*s2g_argv(tmp_path, missing), "--output", str(tmp_path / "a")], capsys)
    assert code == 2 and nothing_written(tmp_path / "a")
    assert err.strip() == f"error: {missing}: no tensor for this network's head.layer_norm.bias (a (16,) tensor)"
    key = "recognition_network.visual_backbone_keypoint.backbone.base.0.conv.weight"
    two_stream = modified_checkpoint(tmp_path, "s2g.pth", lambda c: c["model_state"].update({key: torch.ones(1)}))
    code, err = run_import([*s2g_argv(tmp_path, two_stream), "--output", str(tmp_path / "b")], capsys)
    assert code == 2 and nothing_written(tmp_path / "b")
    assert f"{two_stream}: a TwoStream checkpoint ({key}), not the SingleStream format" in err


class Payload:
    """Stands for whatever an untrusted pickle might carry."""


def test_files_that_would_run_code_are_refused_unread(tmp_path, capsys):
    unsafe = modified_checkpoint(tmp_path, "s2g.pth", lambda c: c.update(extra=Payload()))
    code, err = run_import([*s2g_argv(tmp_path, unsafe), "--output", str(tmp_path / "a")], capsys)
    assert code == 2 and "refused: it carries pickled Python objects (tests.test_slrt_single_stream.Payload)" in err
    with open(tmp_path / "gloss2ids.pkl", "wb") as stream:
        pickle.dump({"<si>": 0, "payload": Payload()}, stream)
    code, err = run_import([*s2g_argv(tmp_path, glosses=tmp_path / "gloss2ids.pkl"), "--output", "b"], capsys)
    assert code == 2 and "not a plain pickle of a gloss vocabulary: it pickles the Python object" in err


def test_a_config_that_disagrees_with_the_files_or_an_existing_output_is_refused(tmp_path, capsys):
    argv = s2g_argv(tmp_path)
    argv[argv.index("--config") + 1] = str(s2g_config(tmp_path, hidden_dim=32))
    code, err = run_import([*argv, "--output", str(tmp_path / "a")], capsys)
    assert code == 2 and "recognition.hidden_dim: 32 in the config, 16 in the files imported" in err
    (tmp_path / "taken").mkdir()
    code, err = run_import([*s2g_argv(tmp_path), "--output", str(tmp_path / "taken")], capsys)
    assert code == 2 and "taken exists: choose a new directory" in err
    code, err = run_import([*s2g_argv(tmp_path), "--output", str(tmp_path / "c"), "--stage", "g2t"], capsys)
    assert code == 2 and "a 's2g' config, not one for --stage g2t" in err


def test_the_papers_s3d_start_becomes_weights_that_recognition_encoder_weights_loads(tmp_path, capsys):
    """Its S3D tensors (here those of the fixture's S2G checkpoint) in torchvision's layout, as a weights file."""
    output = tmp_path / "s3d_paper.pth"
    argv = ["--stage", "s3d", "--checkpoint", str(FIXTURE / "s2g.pth"), "--output", str(output)]
    assert import_checkpoint.main(argv) == 0
    backbone = S3DBackbone(1, 0)
    load_kinetics_weights(backbone, output)
    state = torch.load(FIXTURE / "s2g.pth", weights_only=False)["model_state"]
    expected = recognition_weights(state, "s2g.pth", "recognition_network.")
    assert all(torch.equal(expected[f"encoder.{k}"], v) for k, v in backbone.state_dict().items())
    assert import_checkpoint.main(argv) == 2 and "s3d_paper.pth exists" in capsys.readouterr().err
    argv[3] = str(FIXTURE / "gloss2ids.pkl")
    assert import_checkpoint.main([*argv[:-1], str(tmp_path / "other.pth")]) == 2
    assert "gloss2ids.pkl: not a readable checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_imported_runs_are_ordinary_runs_that_prediction_scores(pipeline, tmp_path, capsys):
    """The imported S2G and G2T on the toy data of the ``pipeline`` fixture, scored by prediction.py unchanged."""
    root, _ = pipeline
    s2g = tiny_s2g_config(root / "data", tmp_path / "unused")
    s2g["data"]["video"]["normalisation"] = "paper"
    s2g["recognition"] = {"beam_size": 3}
    config = write_yaml(tmp_path / "s2g.yaml", s2g)
    argv = ["--stage", "s2g", "--checkpoint", str(FIXTURE / "s2g.pth"), "--glosses", str(FIXTURE / "gloss2ids.pkl")]
    assert import_checkpoint.main([*argv, "--config", str(config), "--output", str(tmp_path / "s2g")]) == 0
    g2t = {
        "task": "g2t",
        "data": {k: v for k, v in s2g["data"].items() if k != "video"},
        "training": {"model_dir": "x"},
    }
    g2t["generation"] = {"num_beams": 2, "max_length": 8, "early_stopping": False}
    config = write_yaml(tmp_path / "g2t.yaml", g2t)
    argv = ["--stage", "g2t", "--checkpoint", str(FIXTURE / "g2t.pth"), "--mbart", str(FIXTURE / "mBart")]
    argv += ["--config", str(config), "--output", str(tmp_path / "g2t")]
    assert import_checkpoint.main(argv) == 2  # toy text is "en_XX": which of its gloss languages is the paper's?
    assert "--gloss-language: none given, and none known for data.tgt_lang en_XX" in capsys.readouterr().err
    assert import_checkpoint.main([*argv, "--gloss-language", "de_DGS"]) == 0
    for stage, metric in (("s2g", "wer"), ("g2t", "bleu4")):
        assert prediction.main(["--config", str(tmp_path / stage / "config.yaml"), "--splits", "test"]) == 0
        report = yaml.safe_load((tmp_path / stage / "predictions" / "report.json").read_text())
        assert report["test"]["counts"]["samples"] == 12 and metric in report["test"]["metrics"]
    state = torch.load(tmp_path / "s2g" / "best.ckpt", weights_only=False)
    assert (
        state["step"] == 1000
        and state["best_score"] == 21.5
        and state["imported_from"]["format"] == "slrt-single-stream"
    )


@pytest.mark.slow
def test_an_imported_s2t_run_translates_videos_and_exports_as_a_trained_one(pipeline, tmp_path, capsys):
    """translate.py (joint and cascade) and export.py on the imported S2T, its S2G a 4-block S3D run of ours."""
    root, _ = pipeline
    glosses = recognition_glosses(read_plain_pickle(FIXTURE / "gloss2ids.pkl", "glosses"), "en_XX", "gloss2ids")
    glosses.vocab.save(tmp_path / "gloss_vocab.txt")  # the paper's recognition glosses, for an S2G of ours
    s2g = tiny_s2g_config(root / "data", tmp_path / "s2g", training={"max_steps": 1})
    s2g["data"]["lowercase_glosses"] = True
    s2g["tokenizer"] = {"gloss_vocab": str(tmp_path / "gloss_vocab.txt")}
    s2g["recognition"].update(hidden_dim=16, ff_dim=32, head_variant="paper")
    s2g["recognition"]["encoder"].update(use_block=4)  # the 832-wide features of the paper's S2T
    assert training.main(["--config", str(write_yaml(tmp_path / "s2g.yaml", s2g))]) == 0
    data = {k: v for k, v in s2g["data"].items() if k != "video"}
    g2t = write_yaml(tmp_path / "g2t.yaml", {"task": "g2t", "data": data, "training": {"model_dir": "x"}})
    argv = ["--stage", "g2t", "--checkpoint", str(FIXTURE / "g2t.pth"), "--mbart", str(FIXTURE / "mBart")]
    extra = ["--gloss-language", "de_DGS"]
    assert import_checkpoint.main([*argv, *extra, "--config", str(g2t), "--output", str(tmp_path / "g2t")]) == 0
    s2t_config = {"task": "s2t", "data": data, "training": {"model_dir": "x"}, "recognition": {"beam_size": 2}}
    s2t_config["s2t"] = {"s2g_run": str(tmp_path / "s2g"), "g2t_run": str(tmp_path / "g2t"), "features": "unused"}
    s2t_config["generation"] = {"num_beams": 2, "max_length": 8, "early_stopping": False}
    s2t = write_yaml(tmp_path / "s2t.yaml", s2t_config)
    argv = ["--stage", "s2t", "--checkpoint", str(FIXTURE / "s2t.pth"), "--glosses", str(FIXTURE / "gloss2ids.pkl")]
    argv += ["--mbart", str(FIXTURE / "mBart"), *extra, "--config", str(s2t), "--output", str(tmp_path / "s2t")]
    assert import_checkpoint.main(argv) == 0
    video = root / "data" / "test" / "toy-00001.mp4"
    run = str(tmp_path / "s2t")
    capsys.readouterr()
    assert translate.main(["--run", run, str(video), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert isinstance(result["text"], str) and set(result["seconds"]) == {"decode", "s3d", "translate"}
    assert translate.main(["--run", run, "--cascade", str(video)]) == 0  # S2G and G2T of two vocabularies
    assert "glosses:" in capsys.readouterr().out
    assert export.main(["--run", run, "--output", str(tmp_path / "onnx")]) == 0  # checked against PyTorch there
    assert translate.main(["--run", run, "--backend", "onnx", "--onnx", str(tmp_path / "onnx"), str(video)]) == 0


@pytest.mark.skipif(
    not os.environ.get("SLRT_TWOSTREAM"), reason="set SLRT_TWOSTREAM to FangyunWei/SLRT's TwoStreamNetwork folder"
)
def test_the_agreement_script_runs_the_papers_code(capsys):
    assert paper_agreement.main(["--paper-code", str(Path(os.environ["SLRT_TWOSTREAM"])), "--tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 5 and all("the same: False" not in line for line in lines)
