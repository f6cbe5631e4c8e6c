"""The paper-setup configs (``experiments/configs/*_paper.yaml``) train and evaluate on the toy language.

Each keeps its paper settings (the paper's head, normalisation, frame selection, evaluation crop,
lower-case glosses, its WER scoring, input scale, generation, the CSL-Daily mapper) and is shrunk
only where the toy data and this machine need it: the toy annotations and videos of the
``pipeline`` fixture, a random 1-block S3D, small widths, a few steps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import extract_feature
from engine.jobs import training_run as training
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
CONFIGS = ROOT / "experiments" / "configs"
FEW_STEPS = {"batch_size": 8, "epochs": 1, "max_steps": 3, "validate_every": 3, "validate_unit": "steps"}


def paper_config(dataset: str, stage: str) -> dict:
    return yaml.safe_load((CONFIGS / f"{dataset}_{stage}_paper.yaml").read_text(encoding="utf-8"))


def on_toy_data(config: dict, root: Path, model_dir: Path) -> dict:
    """``config`` on the pipeline's toy annotations, trained for a few steps into ``model_dir``."""
    config["data"].update({split: str(root / "data" / f"toy.{split}") for split in ("train", "dev", "test")})
    config["training"].update({**FEW_STEPS, "model_dir": str(model_dir), "num_workers": 0, "device": "cpu"})
    config["training"].pop("module_learning_rates", None)
    return config


def write(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def report(run: Path) -> dict:
    return json.loads((run / "predictions" / "report.json").read_text())


@pytest.mark.parametrize("dataset", ["phoenix-2014t", "csl-daily"])
def test_the_paper_configs_train_and_evaluate_on_the_toy_language(dataset, pipeline, tmp_path):
    root, _ = pipeline
    s2g = on_toy_data(paper_config(dataset, "s2g"), root, tmp_path / "s2g")
    crop = {"phoenix-2014t": 32, "csl-daily": 24}[dataset]  # the paper's crop, at the toy videos' 32 px
    s2g["data"]["video"].update(root=str(root / "data"), format="file", path="{name}.mp4", img_size=32)
    s2g["data"]["video"]["centre_crop_pixels"] = crop
    s2g["recognition"].update(hidden_dim=32, ff_dim=64, batch_size=4)
    s2g["recognition"]["encoder"].update(weights=None, use_block=1, freeze_block=0, bn_momentum=0.1)
    s2g_path = write(tmp_path / "s2g.yaml", s2g)
    assert training.main(["--config", str(s2g_path)]) == 0
    assert extract_feature.main(["--config", str(s2g_path)]) == 0

    g2t = on_toy_data(paper_config(dataset, "g2t"), root, tmp_path / "g2t")
    g2t["tokenizer"] = {"text_vocab_size": 120}  # no prepared mBART: a vocabulary and tokenizer of the toy data
    g2t["model"].update(pretrained=None, d_model=32, encoder_layers=1, decoder_layers=1, attention_heads=2)
    g2t["model"].update(ffn_dim=64, max_position_embeddings=512)
    assert training.main(["--config", str(write(tmp_path / "g2t.yaml", g2t))]) == 0
    frozen = "frozen: gloss_embedding, translator.mbart.model.shared"
    assert (frozen in (tmp_path / "g2t" / "train.log").read_text()) == (dataset == "phoenix-2014t")

    s2t = on_toy_data(paper_config(dataset, "s2t"), root, tmp_path / "s2t")
    s2t["s2t"].update(s2g_run=str(tmp_path / "s2g"), g2t_run=str(tmp_path / "g2t"))
    s2t["s2t"]["features"] = str(tmp_path / "s2g" / "features")
    assert training.main(["--config", str(write(tmp_path / "s2t.yaml", s2t))]) == 0

    assert set(report(tmp_path / "s2g")["test"]["metrics"]) >= {"wer"}
    assert set(report(tmp_path / "g2t")["test"]["metrics"]) >= {"bleu4", "rouge_l"}
    joint = report(tmp_path / "s2t")
    assert set(joint) >= {"test", "test-cascade"} and "wer" in joint["test"]["metrics"]
    saved = yaml.safe_load((tmp_path / "s2t" / "config.yaml").read_text())
    assert saved["s2t"]["mapper"] == {"phoenix-2014t": "mlp", "csl-daily": "gloss_probabilities"}[dataset]
    assert saved["recognition"]["head_variant"] == "paper" and saved["model"]["input_scale"] == "paper"
