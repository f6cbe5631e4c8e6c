"""The whole pipeline on tiny models: S2G -> features -> G2T -> S2T (init from both), report with the cascade."""

from __future__ import annotations

import json
import re

import pytest
import torch

import demo
import export
import translate
from core.config import load_config
from dataset.sign_video import SkippedVideo, collate_videos
from dataset.video_reader import read_video_file, write_video_file
from engine.distributed import setup_distributed
from engine.jobs import prediction
from engine.jobs import training_run as training
from engine.tasks.registry import build_task
from tests.conftest import json_lines, s2t_config, tiny_config, tiny_s2g_config, torchrun, write_config

pytestmark = pytest.mark.slow


def test_s2t_report_has_translation_wer_and_the_cascade(pipeline):
    root, _ = pipeline
    report = json.loads((root / "s2t" / "predictions" / "report.json").read_text())
    assert set(report) >= {"dev", "test", "dev-cascade", "test-cascade"}
    for row in ("test", "test-cascade"):
        assert set(report[row]["metrics"]) == {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l", "wer"}
        assert report[row]["counts"]["samples"] == 12
    log = (root / "s2t" / "train.log").read_text()
    assert "visual head initialised from" in log and "translator and </s>/language embeddings initialised" in log


def test_s2t_starts_from_the_s2g_and_g2t_weights(pipeline):
    root, config_path = pipeline
    task = build_task(load_config(config_path), setup_distributed("cpu"))
    task.prepare(create=True)  # a new run starts from the S2G and G2T checkpoints
    model = task.build_model()
    s2g = torch.load(root / "s2g" / "best.ckpt", weights_only=False)["model"]
    g2t = torch.load(root / "g2t" / "best.ckpt", weights_only=False)["model"]
    assert torch.equal(model.recognition.head.classifier.weight, s2g["head.classifier.weight"])
    assert torch.equal(model.translator.mbart.lm_head.weight, g2t["translator.mbart.lm_head.weight"])
    assert torch.equal(model.gloss_embedding.weight[2:4], g2t["gloss_embedding.weight"][2:4])


def test_the_gloss_probability_mapper_starts_from_the_g2t_gloss_embedding(pipeline, tmp_path):
    """``s2t.mapper: gloss_probabilities`` (the paper's CSL-Daily mapper): trains and scores as the MLP does."""
    root, _ = pipeline
    config = s2t_config(root, tmp_path / "s2t", max_steps=2)
    config["s2t"]["mapper"] = "gloss_probabilities"
    path = write_config(tmp_path / "s2t.yaml", config)
    task = build_task(load_config(path), setup_distributed("cpu"))
    task.prepare(create=True)
    g2t = torch.load(root / "g2t" / "best.ckpt", weights_only=False)["model"]["gloss_embedding.weight"]
    assert torch.equal(task.build_model().mapper.embeddings.weight, g2t.t())
    assert training.main(["--config", str(path)]) == 0
    assert prediction.main(["--config", str(path), "--splits", "test"]) == 0
    assert export.main(["--run", str(tmp_path / "s2t"), "--output", str(tmp_path / "onnx")]) == 0  # checked there


def test_a_g2t_run_of_its_own_gloss_vocabulary_starts_s2t_and_serves_the_cascade(pipeline, tmp_path):
    """As the paper's stages, S2G and G2T may have two vocabularies: glosses pass between them by name."""
    root, _ = pipeline
    glosses = (root / "s2g" / "gloss_vocab.txt").read_text().split()
    vocab = tmp_path / "g2t_vocab.txt"
    vocab.write_text("\n".join(["EXTRA-GLOSS", *reversed(glosses[1:])]) + "\n")  # one S2G gloss missing
    data = {split: str(root / "data" / f"toy.{split}") for split in ("train", "dev", "test")}
    g2t = tiny_config(data, tmp_path / "g2t", training={"max_steps": 2})
    g2t["tokenizer"]["gloss_vocab"] = str(vocab)
    assert training.main(["--config", str(write_config(tmp_path / "g2t.yaml", g2t))]) == 0
    config = s2t_config(root, tmp_path / "s2t", max_steps=2)
    config["s2t"].update(g2t_run=str(tmp_path / "g2t"), mapper="gloss_probabilities")
    path = write_config(tmp_path / "s2t.yaml", config)
    task = build_task(load_config(path), setup_distributed("cpu"))
    task.prepare(create=True)
    table = torch.load(tmp_path / "g2t" / "best.ckpt", weights_only=False)["model"]["gloss_embedding.weight"]
    columns = task.build_model().mapper.embeddings.weight.t()
    assert torch.equal(columns[task.vocab.stoi[glosses[-1]]], table[5])  # the G2T row of the same gloss
    assert not columns[task.vocab.stoi[glosses[0]]].any()  # a gloss the G2T vocabulary lacks: zero
    assert training.main(["--config", str(path)]) == 0
    report = json.loads((tmp_path / "s2t" / "predictions" / "report.json").read_text())
    assert report["test-cascade"]["counts"]["samples"] == 12


def test_an_s2g_checkpoint_with_another_gloss_vocabulary_is_refused(pipeline, tmp_path, capsys):
    root, _config_path = pipeline
    vocab = tmp_path / "vocab.txt"
    vocab.write_text((root / "s2g" / "gloss_vocab.txt").read_text() + "EXTRA-GLOSS\n")
    config = s2t_config(root, tmp_path / "model")
    config["tokenizer"] = {"gloss_vocab": str(vocab)}  # given: kept over the S2G run's
    assert training.main(["--config", str(write_config(tmp_path / "s2t.yaml", config))]) == 2
    err = capsys.readouterr().err
    assert re.search(r"s2g.*best.ckpt: its gloss vocabulary \(\d+ glosses\) differs from this config.s tokenizer", err)


def test_missing_features_are_a_clear_error(pipeline, tmp_path, capsys):
    _root, config_path = pipeline
    args = ["--config", str(config_path), "-o", f"s2t.features={tmp_path}", "--splits", "dev"]
    assert prediction.main(args) == 2
    assert f"feature store not found: {tmp_path / 'dev.pt'}" in capsys.readouterr().err


def test_torchrun_two_process_s2t(pipeline, tmp_path):
    root, _ = pipeline
    path = write_config(tmp_path / "s2t.yaml", s2t_config(root, tmp_path / "model", epochs=1))
    result = torchrun("training.py", ["--config", str(path)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "model" / "train.log").read_text()
    assert "on 2 rank(s)" in log and "weights identical on 2 ranks: True" in log


def test_translate_command_on_a_generated_mp4(pipeline, capsys):
    root, config_path = pipeline
    video = root / "data" / "test" / "toy-00001.mp4"
    assert translate.main(["--config", str(config_path), str(video), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert result["video"] == str(video) and isinstance(result["text"], str)
    assert set(result["seconds"]) == {"decode", "s3d", "translate"}
    assert translate.main(["--config", str(config_path), "--cascade", str(video)]) == 0
    printed = capsys.readouterr().out
    assert "glosses:" in printed and "text:" in printed and "time:" in printed


def test_translate_writes_each_good_result_and_names_each_bad_video(pipeline, tmp_path, capsys):
    """good, bad, good: both good results are written (as each finishes), the bad one has its own line, exit 2."""
    root, _ = pipeline
    good = [str(root / "data" / "test" / f"toy-0000{i}.mp4") for i in (1, 2)]
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    videos = [good[0], str(bad), good[1]]
    assert translate.main(["--run", str(root / "s2t"), *videos, "--json"]) == 2
    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    assert [line["video"] for line in lines] == videos
    assert "text" in lines[0] and "text" in lines[2] and "not a readable video" in lines[1]["error"]
    assert f"error: 1 of 3 video(s) could not be translated: {bad}" in captured.err
    assert translate.main(["--run", str(root / "s2t"), *videos]) == 2
    captured = capsys.readouterr()
    assert captured.out.count("  text:    ") == 2
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and errors[0].startswith(f"error: {bad}: not a readable video")
    assert errors[1] == f"error: 1 of 3 video(s) could not be translated: {bad}"


def test_the_command_demo_prints_translates_a_video_with_the_run_it_trained(pipeline, capsys):
    root, _ = pipeline
    command = demo.translate_hint(root).splitlines()[2].split()  # python translate.py --run RUN YOUR_VIDEO.mp4
    assert command[:4] == ["python", "translate.py", "--run", str(root / "s2t")]
    video = str(root / "data" / "test" / "toy-00003.mp4")
    assert translate.main([*command[2:-1], video]) == 0
    assert capsys.readouterr().out.startswith(f"{video}\n  glosses: ")


def test_translate_flags_a_clip_too_short_or_too_long_for_the_model(pipeline, tmp_path, capsys):
    root, _ = pipeline
    clip = tmp_path / "two_frames.mp4"
    write_video_file(read_video_file(root / "data" / "test" / "toy-00001.mp4")[:2], clip)
    assert translate.main(["--run", str(root / "s2t"), str(clip), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert result["frames"] == 2 and result["padded"] is True
    assert translate.main(["--run", str(root / "s2t"), str(clip)]) == 0
    assert "  note:    only 2 frame(s): padded to the model's minimum, so unreliable" in capsys.readouterr().out
    video = str(root / "data" / "test" / "toy-00001.mp4")
    assert translate.main(["--run", str(root / "s2t"), video, "--json"]) == 0
    assert json_lines(capsys.readouterr().out)[0]["padded"] is False
    long_clip = tmp_path / "long.mp4"  # longer than the model's data.video.max_frames (400)
    write_video_file(read_video_file(video).repeat(20, 1, 1, 1)[:403], long_clip)
    assert translate.main(["--run", str(root / "s2t"), str(long_clip)]) == 0
    assert "  note:    403 frames, subsampled evenly to 400 (data.video.max_frames)" in capsys.readouterr().out


def test_translate_needs_a_config_or_a_run_directory(capsys):
    with pytest.raises(SystemExit):
        translate.main(["video.mp4"])
    assert "give either --config CONFIG.yaml or --run RUN_DIR" in capsys.readouterr().err


def test_translate_names_a_file_that_is_not_a_video(pipeline, tmp_path, capsys):
    _root, config_path = pipeline
    fake = tmp_path / "holiday.mp4"
    fake.write_text("not a video")
    assert translate.main(["--config", str(config_path), str(fake)]) == 2
    assert f"error: {fake}: not a readable video" in capsys.readouterr().err


def test_end_to_end_on_video_starts_s3d_from_the_s2g_checkpoint(pipeline, tmp_path, capsys):
    root, _ = pipeline
    config = s2t_config(root, tmp_path / "model", max_steps=3, epochs=1)
    config["s2t"]["features"] = None
    config["data"]["video"] = tiny_s2g_config(root / "data", root)["data"]["video"]
    path = write_config(tmp_path / "s2t_video.yaml", config)
    assert training.main(["--config", str(path)]) == 0
    model_dir = tmp_path / "model"
    assert "visual head and encoder initialised from" in (model_dir / "train.log").read_text()
    report = json.loads((model_dir / "predictions" / "report.json").read_text())
    assert report["test"]["counts"]["samples"] == 12 and "test-cascade" in report
    state = torch.load(model_dir / "best.ckpt", weights_only=False)
    assert state["metadata"]["input"] == "video" and any(k.startswith("recognition.encoder.") for k in state["model"])
    video = root / "data" / "test" / "toy-00001.mp4"
    capsys.readouterr()  # the training run's own table
    assert translate.main(["--config", str(path), str(video), "--json"]) == 0
    (result,) = json_lines(capsys.readouterr().out)
    assert set(result["seconds"]) == {"decode", "s3d", "translate"}  # S3D timed apart, in the model or not


def test_a_batch_without_readable_videos_is_a_weightless_pass_through_every_module(pipeline, tmp_path):
    root, _ = pipeline
    config = s2t_config(root, tmp_path / "model")
    config["s2t"]["features"] = None
    config["data"]["video"] = tiny_s2g_config(root / "data", root)["data"]["video"]
    task = build_task(load_config(write_config(tmp_path / "s2t_video.yaml", config)), setup_distributed("cpu"))
    task.prepare(create=False)
    model = task.build_model().train()
    batch = collate_videos([SkippedVideo("train/x", "unreadable"), SkippedVideo("train/y", "unreadable")])
    loss = task.loss(model, batch, torch.device("cpu")).total
    loss.backward()
    assert loss.item() == 0.0 and task.training_counts["unreadable videos skipped"] == 2
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert all(p.grad is not None and not p.grad.any() for _, p in trainable)  # every module ran (DDP), no update
