"""Sign2Gloss on keypoints: the toy signer's joints, the pose encoder, CTC; its examples, augmentation and errors."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
import yaml

import extract_feature
import translate
from core.config import ConfigError, load_config
from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample
from dataset.keypoint_preprocessing import PAPER_79
from dataset.keypoints import KeypointError
from dataset.sign_keypoints import KeypointAugmentation, KeypointDataset, collate_keypoints, encode_keypoint_samples
from dataset.toy_keypoints import toy_keypoints
from dataset.toy_sign_video import signer_style
from engine.checkpoint import load_checkpoint
from engine.jobs import prediction
from engine.jobs import training_run as training
from tests.conftest import tiny_config


def keypoint_config(tmp_path, **training_values) -> dict:
    return {
        "task": "s2g",
        "data": {
            **{split: str(tmp_path / "data" / f"toy.{split}") for split in ("train", "dev", "test")},
            "src_lang": "en_XX",
            "tgt_lang": "en_XX",
            "synthetic": {"num_train": 200, "num_dev": 30, "num_test": 30, "seed": 5, "render_size": 64},
            "keypoints": {"path": str(tmp_path / "data" / "{split}.keypoints.pkl")},
        },
        "recognition": {
            "encoder": {"type": "pose_mlp", "part_width": 32, "width": 64},
            "hidden_dim": 64,
            "ff_dim": 128,
        },
        "training": {
            "model_dir": str(tmp_path / "run"),
            "batch_size": 16,
            "epochs": 15,
            "learning_rate": 3e-3,
            "warmup_steps": 20,
            "validate_every": 15,
            "validate_unit": "epochs",
            "device": "cpu",
            **training_values,
        },
    }


def write(path, config: dict):
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def keypoint_run(tmp_path_factory):
    """A keypoint S2G on 200 toy sentences, 15 epochs (about 5 s)."""
    tmp_path = tmp_path_factory.mktemp("keypoints")
    path = write(tmp_path / "s2g.yaml", keypoint_config(tmp_path))
    assert training.main(["--config", str(path)]) == 0
    return tmp_path


@pytest.mark.slow
def test_keypoint_s2g_learns_the_toy_language_and_prediction_scores_it(keypoint_run):
    """Far from the blank output's 100% WER after 15 epochs of 200 sentences."""
    tmp_path = keypoint_run
    assert (tmp_path / "data" / "train.keypoints.pkl").is_file()  # the toy signer's joints, written on first use
    report = json.loads((tmp_path / "run" / "predictions" / "report.json").read_text())
    assert report["test"]["metrics"]["wer"] < 85 and report["test"]["counts"]["samples"] == 30
    metadata = load_checkpoint(tmp_path / "run" / "best.ckpt")["metadata"]
    assert (
        metadata["input"] == "keypoints" and metadata["selection"] == "paper-79" and metadata["encoder"] == "pose_mlp"
    )
    assert prediction.main(["--config", str(tmp_path / "run" / "config.yaml"), "--splits", "dev"]) == 0


@pytest.mark.slow
def test_its_pose_features_are_extracted_and_sign2text_trains_on_them_with_the_cascade(keypoint_run, capsys):
    tmp_path = keypoint_run
    assert extract_feature.main(["--config", str(tmp_path / "run" / "config.yaml")]) == 0
    store = torch.load(tmp_path / "run" / "features" / "test.pt", weights_only=True)
    assert len(store["features"]) == 30 and next(iter(store["features"].values())).shape[1] == 64  # pose_mlp width
    data = {split: str(tmp_path / "data" / f"toy.{split}") for split in ("train", "dev", "test")}
    g2t = tiny_config(data, tmp_path / "g2t", training={"max_steps": 4})
    g2t["tokenizer"]["gloss_vocab"] = str(tmp_path / "run" / "gloss_vocab.txt")
    assert training.main(["--config", str(write(tmp_path / "g2t.yaml", g2t))]) == 0
    s2t = tiny_config(data, tmp_path / "s2t", training={"max_steps": 4})
    s2t["task"] = "s2t"
    del s2t["tokenizer"], s2t["model"]
    s2t["s2t"] = {"s2g_run": str(tmp_path / "run"), "g2t_run": str(tmp_path / "g2t")}
    s2t["s2t"]["features"] = str(tmp_path / "run" / "features")
    assert training.main(["--config", str(write(tmp_path / "s2t.yaml", s2t))]) == 0
    report = json.loads((tmp_path / "s2t" / "predictions" / "report.json").read_text())
    assert {"test", "test-cascade"} <= set(report) and "wer" in report["test-cascade"]["metrics"]
    assert translate.main(["--run", str(tmp_path / "s2t"), str(tmp_path / "video.mp4")]) == 2  # no extraction yet
    assert "its S2G run reads keypoints, not video" in capsys.readouterr().err


def test_a_keypoint_encoder_without_keypoints_or_their_files_is_refused(tmp_path, capsys):
    config = keypoint_config(tmp_path)
    del config["data"]["keypoints"]
    with pytest.raises(ConfigError, match="task s2g with encoder 'pose_mlp' needs a 'data.keypoints' section"):
        load_config(write(tmp_path / "a.yaml", config))
    config = keypoint_config(tmp_path)
    del config["data"]["synthetic"]  # no toy data: the files must be there
    (tmp_path / "data").mkdir()
    from dataset.toy_sign_language import write_toy_dataset

    write_toy_dataset({s: config["data"][s] for s in ("train", "dev", "test")}, {"train": 4, "dev": 2, "test": 2}, 1)
    assert training.main(["--config", str(write(tmp_path / "c.yaml", config))]) == 2
    assert "data.keypoints.path: train keypoints not found" in capsys.readouterr().err


def test_the_toy_keypoints_are_written_again_when_stale_and_never_over_a_file_of_another(tmp_path, capsys):
    config = keypoint_config(tmp_path, epochs=1)
    config["data"]["synthetic"].update(num_train=20, num_dev=4, num_test=4)
    path = write(tmp_path / "s2g.yaml", config)
    assert training.main(["--config", str(path)]) == 0
    keypoints = tmp_path / "data" / "train.keypoints.pkl"
    first = keypoints.read_bytes()
    config["data"]["synthetic"]["render_size"] = 32  # another toy signer's frame: its keypoints are stale
    config["training"]["model_dir"] = str(tmp_path / "run2")
    assert training.main(["--config", str(write(tmp_path / "s2g.yaml", config))]) == 0
    assert keypoints.read_bytes() != first
    (tmp_path / "data" / ".dev.keypoints.pkl.recipe").unlink()  # dev's file: no longer vouched for
    config["training"]["model_dir"] = str(tmp_path / "run3")
    assert training.main(["--config", str(write(tmp_path / "s2g.yaml", config))]) == 2
    assert "dev.keypoints.pkl exists but was not written by the toy signer" in capsys.readouterr().err


def examples(flip: bool) -> list:
    vocab = GlossVocabulary(["TODAY", "BALL", "EAT"], "en_XX")
    videos = {
        f"v{i}": toy_keypoints(["TODAY", "BALL", "EAT"], signer_style("Signer01", i), 64, random.Random(i))
        for i in range(3)
    }
    samples = [Sample(name, "TODAY BALL EAT", "x") for name in videos] + [Sample("absent", "BALL", "x")]
    encoded = encode_keypoint_samples(samples, videos, vocab, PAPER_79, True, flip, "train.pkl", skip_missing=True)
    assert encoded.counts["samples without keypoints"] == 1
    return encoded.examples


def test_examples_are_selected_centred_and_a_missing_sample_is_counted_or_named():
    (first, *_) = examples(flip=True)
    assert first.keypoints.shape[1:] == (79, 4) and first.ctc_targets == [4, 5, 6] and first.mirrored is not None
    assert abs(first.keypoints[:, PAPER_79.shoulders[0], 0].mean() - 0.5) < 0.1  # centred, the shoulder width 1
    vocab = GlossVocabulary(["BALL"], "en_XX")
    with pytest.raises(KeypointError, match="test.pkl: no keypoints of sample absent"):
        encode_keypoint_samples([Sample("absent", "BALL", "x")], {}, vocab, PAPER_79, True, False, "test.pkl", False)


def test_training_augments_per_sample_and_epoch_reproducibly_and_evaluation_not_at_all():
    items = examples(flip=True)
    augmentation = KeypointAugmentation(flip=0.5, temporal_rescale=(0.5, 1.5), rotation=10, scale=(0.9, 1.1), shear=0.1)
    dataset = KeypointDataset(items, augmentation, seed=3)
    first = dataset[0].keypoints
    assert np.array_equal(first, KeypointDataset(items, augmentation, seed=3)[0].keypoints)  # the same draws
    dataset.set_epoch(1)
    assert not np.array_equal(first, dataset[0].keypoints)
    lengths = {len(KeypointDataset(items, augmentation, seed=s)[0].keypoints) for s in range(10)}
    assert len(lengths) > 1 and all(0.5 * items[0].length - 1 <= n <= 1.5 * items[0].length + 1 for n in lengths)
    assert np.array_equal(KeypointDataset(items, None, seed=3)[0].keypoints, items[0].keypoints)
    batch = collate_keypoints([items[0], KeypointDataset(items, augmentation, seed=4)[1]])
    assert batch["keypoints"].shape[0] == 2 and batch["keypoints"].dtype == torch.float32
    assert not batch["keypoints"][int(batch["lengths"].argmin()), int(batch["lengths"].min()) :].any()
