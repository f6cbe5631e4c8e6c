"""End-to-end Sign2Gloss runs of training.py and prediction.py on toy videos: report, resume, bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from core.config import load_config
from core.run_directory import RunDirectory
from dataset.video_reader import VideoSource
from engine.checkpoint import load_checkpoint
from engine.jobs import prediction
from engine.jobs import training_run as training
from engine.tasks.data_preparation import ensure_synthetic_videos
from tests.conftest import tiny_s2g_config, torchrun, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny S2G model trained for 2 epochs on 48 toy videos, one of them corrupt."""
    root = tmp_path_factory.mktemp("s2g")
    config = tiny_s2g_config(root / "data", root / "model")
    path = write_config(root / "run.yaml", config)
    config = load_config(path)
    ensure_synthetic_videos(config, VideoSource(root / "data", "file", "{name}.mp4"))
    (root / "data" / "train" / "toy-00003.mp4").write_bytes(b"corrupted")
    assert training.main(["--config", str(path)]) == 0
    return path, root


def test_run_writes_wer_report_with_counts_and_per_sample_glosses(trained):
    _, root = trained
    model_dir = root / "model"
    assert (model_dir / "best.ckpt").is_file() and len(RunDirectory(model_dir).step_checkpoints()) == 2
    report = json.loads((model_dir / "predictions" / "report.json").read_text())
    assert set(report["test"]["metrics"]) == {"wer", "sub", "del", "ins"}
    counts = report["test"]["counts"]
    assert counts["samples"] == 12 and counts["reference glosses"] > 12
    metrics = report["test"]["metrics"]
    assert metrics["wer"] == pytest.approx(metrics["sub"] + metrics["del"] + metrics["ins"])
    rows = (model_dir / "predictions" / "test.hyp.tsv").read_text().splitlines()
    assert rows[0] == "name\thypothesis\treference" and len(rows) == 13
    assert rows[1].split("\t")[2].isupper()  # reference glosses
    log = (model_dir / "train.log").read_text()
    assert "train: skipped train/toy-00003" in log and "not a readable video" in log
    assert "'unreadable videos skipped': 2" in log  # once per epoch


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_equals_uninterrupted_training(trained, tmp_path, workers):
    """Whatever the number of (persistent) DataLoader workers: the run was trained with none."""
    config_path, root = trained
    interrupted = tmp_path / "model"
    shutil.copytree(root / "model", interrupted)
    first, last = RunDirectory(interrupted).step_checkpoints()
    last.unlink()
    config = yaml.safe_load(config_path.read_text())
    config["training"].update(model_dir=str(interrupted), num_workers=workers)
    assert training.main(["--config", str(write_config(tmp_path / "resume.yaml", config)), "--resume", str(first)]) == 0
    expected = torch.load(root / "model" / last.name, weights_only=False)
    got = torch.load(interrupted / last.name, weights_only=False)
    for key, tensor in expected["model"].items():
        assert torch.equal(got["model"][key], tensor), key


def run_with_a_corrupt_dev_video(trained, tmp_path) -> tuple:
    """A 4-step run validating every 2 steps on a copy of the toy videos whose dev/toy-00004 is corrupt."""
    config_path, root = trained
    videos = tmp_path / "videos"
    shutil.copytree(root / "data", videos)
    dev_video = videos / "dev" / "toy-00004.mp4"
    good = dev_video.read_bytes()
    dev_video.write_bytes(b"corrupted")
    config = yaml.safe_load(config_path.read_text())
    config["data"]["video"]["root"] = str(videos)
    config["training"].update(model_dir=str(tmp_path / "model"), max_steps=4, validate_every=2, validate_unit="steps")
    return write_config(tmp_path / "run.yaml", config), dev_video, good


def assert_stopped_at_the_first_validation_with_its_checkpoint(errors: list[str], model_dir) -> None:
    assert errors and "dev sample dev/toy-00004" in errors[0], errors
    assert "validation at step 2; the training so far is in step_2.ckpt" in errors[0]
    (saved,) = RunDirectory(model_dir).step_checkpoints()
    assert saved.name == "step_2.ckpt" and not torch.load(saved, weights_only=False)["validated"]
    assert not (model_dir / "best.ckpt").exists()


def test_a_corrupt_dev_video_stops_training_with_its_checkpoint_kept_and_resume_validates_first(
    trained, tmp_path, capsys
):
    """Validation fails on bad dev data: the training so far is saved, and --resume validates it before going on."""
    path, dev_video, good = run_with_a_corrupt_dev_video(trained, tmp_path)
    assert training.main(["--config", str(path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert_stopped_at_the_first_validation_with_its_checkpoint(errors, tmp_path / "model")
    dev_video.write_bytes(good)
    assert training.main(["--config", str(path), "--resume"]) == 0
    log = (tmp_path / "model" / "train.log").read_text()
    assert log.index("resumed from") < log.index("step 2 dev: wer=") < log.index("step 4 dev: wer=")
    assert torch.load(tmp_path / "model" / "step_4.ckpt", weights_only=False)["validated"]


def test_a_corrupt_dev_video_on_one_of_two_ranks_stops_both_with_the_checkpoint_kept(trained, tmp_path):
    path, _, _ = run_with_a_corrupt_dev_video(trained, tmp_path)
    result = torchrun("training.py", ["--config", str(path)], cwd=tmp_path)
    assert result.returncode != 0
    errors = re.findall(r"error: (.*)", result.stderr)  # a line may begin with the other rank's progress bar
    assert len(errors) == 2 and errors[0] == errors[1], result.stderr[-3000:]
    assert_stopped_at_the_first_validation_with_its_checkpoint(errors, tmp_path / "model")


def test_prediction_names_an_unreadable_test_video(trained, tmp_path, capsys):
    config_path, root = trained
    videos = tmp_path / "videos"
    shutil.copytree(root / "data", videos)
    (videos / "test" / "toy-00002.mp4").write_bytes(b"corrupted")
    args = ["--config", str(config_path), "--splits", "test", "-o", f"data.video.root={videos}"]
    assert prediction.main(args) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, errors
    assert "test sample test/toy-00002" in errors[0] and "toy-00002.mp4: not a readable video" in errors[0]
    (videos / "test" / "toy-00005.mp4").unlink()
    assert prediction.main(args) == 2
    err = capsys.readouterr().err
    assert "1 test video(s) not found" in err and "test/toy-00005.mp4" in err


def test_s2g_checkpoint_does_not_load_into_another_vocabulary(trained, tmp_path, capsys):
    config_path, _root = trained
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("BOOK\nCAR\n")
    args = ["--config", str(config_path), "--splits", "dev", "-o", f"tokenizer.gloss_vocab={vocab}"]
    assert prediction.main(args) == 2
    assert "does not match this config" in capsys.readouterr().err


def test_the_toy_video_set_is_never_written_over_a_users_annotation_file(tmp_path, toy_data, capsys):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    path = write_config(tmp_path / "run.yaml", config)
    mine = tmp_path / "mine.train"
    shutil.copy(toy_data["train"], mine)
    assert training.main(["--config", str(path), "-o", f"data.train={mine}"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: data.train: {mine} exists but was not written by the toy video generator")
    assert mine.read_bytes() == Path(toy_data["train"]).read_bytes()
    assert not (tmp_path / "data").exists() and not (tmp_path / "model").exists()


def test_training_with_no_train_video_found_ends_with_one_line_before_writing(tmp_path, toy_data, capsys):
    config = tiny_s2g_config(tmp_path / "videos", tmp_path / "model")
    config["data"] = {**config["data"], **toy_data, "synthetic": None}
    (tmp_path / "videos").mkdir()  # the videos are elsewhere, or data.video.path is wrong
    assert training.main(["--config", str(write_config(tmp_path / "run.yaml", config))]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f"error: data.video: none of the 400 train videos is under {tmp_path / 'videos'} "
        "(the first would be train/toy-00000.mp4, from data.video.path '{name}.mp4')"
    )
    assert not (tmp_path / "model").exists()


def test_the_papers_visual_head_trains_and_predicts_on_the_toy_videos(trained, tmp_path, capsys):
    """``recognition.head_variant: paper`` (the paper code's head) runs through the same scripts."""
    config_path, root = trained
    paper = ["-o", "recognition.head_variant=paper", "-o", f"training.model_dir={tmp_path / 'paper'}"]
    assert training.main(["--config", str(config_path), *paper]) == 0
    report = json.loads((tmp_path / "paper" / "predictions" / "report.json").read_text())
    assert report["test"]["counts"]["samples"] == 12 and 0 <= report["test"]["metrics"]["wer"] <= 100
    state = load_checkpoint(tmp_path / "paper" / "best.ckpt")
    assert "head.ff_norm.weight" in state["model"] and state["config"]["recognition"]["head_variant"] == "paper"
    own = str(root / "model" / "best.ckpt")  # a checkpoint of the other head is refused, naming what is missing
    assert prediction.main(["--config", str(config_path), *paper, "--ckpt", own]) == 2
    assert "ff_norm" in capsys.readouterr().err
