"""End-to-end runs of training.py and prediction.py: quick start, resume, torchrun, bad input."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from core.run_directory import RunDirectory
from engine.jobs import prediction
from engine.jobs import training_run as training
from tests.conftest import ROOT, free_port, tiny_config, torchrun, torchrun_command, torchrun_env, write_config

pytestmark = pytest.mark.slow


def run_training(config_path, *extra) -> int:
    return training.main(["--config", str(config_path), *extra])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, toy_data):
    """A tiny G2T model trained for 2 epochs, validated every epoch, both step checkpoints kept."""
    root = tmp_path_factory.mktemp("trained")
    config = tiny_config(toy_data, root / "model", training={"keep_last": 3})
    path = write_config(root / "run.yaml", config)
    assert run_training(path) == 0
    return path, root / "model"


def test_run_directory_contents(trained):
    _, model_dir = trained
    names = {p.name for p in model_dir.iterdir()}
    assert {"config.yaml", "train.log", "best.ckpt", "gloss_vocab.txt", "text_tokenizer", "tensorboard"} <= names
    resolved = yaml.safe_load((model_dir / "config.yaml").read_text())["training"]
    assert (resolved["device"], resolved["precision"]) == ("cpu", "fp32")  # precision auto, resolved
    assert len(RunDirectory(model_dir).step_checkpoints()) == 2
    assert not [p for p in model_dir.rglob("*.tmp")]
    report = json.loads((model_dir / "predictions" / "report.json").read_text())
    assert set(report["test"]["metrics"]) == {"bleu1", "bleu2", "bleu3", "bleu4", "rouge_l"}
    assert report["test"]["counts"]["samples"] == 60
    events = list((model_dir / "tensorboard").iterdir())
    assert events and events[0].stat().st_size > 0


def test_resume_equals_uninterrupted_training(trained, tmp_path):
    config_path, model_dir = trained
    interrupted = tmp_path / "model"
    shutil.copytree(model_dir, interrupted)
    first, last = RunDirectory(interrupted).step_checkpoints()
    last.unlink()  # as if the run had stopped right after writing the first checkpoint
    shutil.copy(first, interrupted / "best.ckpt")
    config = yaml.safe_load(config_path.read_text())
    config["training"]["model_dir"] = str(interrupted)
    resumed_config = write_config(tmp_path / "resume.yaml", config)
    assert run_training(resumed_config, "--resume") == 0
    expected = torch.load(model_dir / last.name, weights_only=False)
    got = torch.load(interrupted / last.name, weights_only=False)
    assert got["step"] == expected["step"]
    for key, tensor in expected["model"].items():
        assert torch.equal(got["model"][key], tensor), key
    assert got["optimizer"]["state"][0]["exp_avg"].equal(expected["optimizer"]["state"][0]["exp_avg"])


def test_prediction_writes_hypotheses_and_report(trained, tmp_path, capsys):
    config_path, _model_dir = trained
    assert prediction.main(["--config", str(config_path), "--splits", "test", "--output-dir", str(tmp_path)]) == 0
    lines = (tmp_path / "test.hyp.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "name\thypothesis\treference" and len(lines) == 61
    printed = capsys.readouterr().out
    assert "bleu4" in printed and "scoring: BLEU-n: sacrebleu" in printed


def test_unknown_glosses_and_empty_lines_are_counted(trained, tmp_path, toy_data):
    config_path, _ = trained
    records = pickle.loads(gzip.decompress(open(toy_data["test"], "rb").read()))[:10]
    records[0]["gloss"] = "NEVER-SEEN " + records[0]["gloss"]
    records[1]["gloss"] = "   "
    broken = tmp_path / "odd.test"
    broken.write_bytes(gzip.compress(pickle.dumps(records)))
    args = [
        "--config",
        str(config_path),
        "--splits",
        "test",
        "--output-dir",
        str(tmp_path),
        "-o",
        f"data.test={broken}",
    ]
    assert prediction.main(args) == 0
    counts = json.loads((tmp_path / "report.json").read_text())["test"]["counts"]
    assert counts == {"samples": 9, "empty gloss": 1, "unknown glosses": 1, "samples with unknown glosses": 1}


def test_missing_checkpoint_is_one_clear_message(trained, tmp_path, capsys):
    config_path, _ = trained
    assert prediction.main(["--config", str(config_path), "--ckpt", str(tmp_path / "nope.ckpt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: checkpoint not found: {tmp_path / 'nope.ckpt'}"]


def test_config_typo_is_one_clear_message_before_any_work(tmp_path, toy_data, capsys):
    config = tiny_config(toy_data, tmp_path / "model", training={"batch_sise": 8})
    path = write_config(tmp_path / "typo.yaml", config)
    assert run_training(path) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown key 'training.batch_sise'" in err[0] and str(path) in err[0]
    assert not (tmp_path / "model").exists()


def test_corrupt_annotation_file_is_named(tmp_path, toy_data, capsys):
    corrupt = tmp_path / "corrupt.train"
    corrupt.write_bytes(b"\x1f\x8b\x08garbage")
    config = tiny_config({**toy_data, "train": str(corrupt)}, tmp_path / "model")
    assert run_training(write_config(tmp_path / "run.yaml", config)) == 2
    err = capsys.readouterr().err
    assert f"{corrupt}: not a readable" in err
    assert not list((tmp_path / "model").glob("*.ckpt"))


@pytest.mark.parametrize("field", ["gloss", "text"])
def test_a_train_split_with_nothing_to_train_on_is_one_line_before_any_file_is_written(
    tmp_path, toy_data, capsys, field
):
    records = pickle.loads(gzip.decompress(open(toy_data["train"], "rb").read()))
    for record in records:
        record[field] = "  "
    train = tmp_path / "empty.train"
    train.write_bytes(gzip.compress(pickle.dumps(records)))
    config = tiny_config({**toy_data, "train": str(train)}, tmp_path / "model")
    assert run_training(write_config(tmp_path / "run.yaml", config)) == 2
    expected = f"error: {train}: nothing to train on: every sample was skipped ({{'empty {field}': 400}})"
    assert capsys.readouterr().err.strip().splitlines() == [expected]
    assert not (tmp_path / "model").exists()


def test_empty_gloss_line_in_training_is_skipped_with_a_count(tmp_path, toy_data):
    records = pickle.loads(gzip.decompress(open(toy_data["train"], "rb").read()))
    records[5]["gloss"] = ""
    train = tmp_path / "with_empty.train"
    train.write_bytes(gzip.compress(pickle.dumps(records)))
    config = tiny_config({**toy_data, "train": str(train)}, tmp_path / "model", training={"max_steps": 3})
    assert run_training(write_config(tmp_path / "run.yaml", config)) == 0
    log = (tmp_path / "model" / "train.log").read_text()
    assert "train: skipped {'empty gloss': 1} (first: train/toy-00005)" in log


def test_progress_off_a_terminal_is_plain_lines(tmp_path, toy_data, capsys):
    """Captured output is no terminal: no carriage returns or cursor moves, a plain line per refresh."""
    config = tiny_config(toy_data, tmp_path / "model", training={"max_steps": 3})
    assert run_training(write_config(tmp_path / "run.yaml", config)) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "\x1b[" not in err
    bars = [line for line in err.splitlines() if line.startswith("train: ")]
    assert bars[-1].startswith("train: 100%|") and len(bars) == 2, err  # the start and the end (under 30 s)


def test_existing_run_is_not_overwritten_without_resume(trained, capsys):
    config_path, _model_dir = trained
    assert run_training(config_path) == 2
    assert "already holds checkpoints: pass --resume" in capsys.readouterr().err


@pytest.mark.parametrize("resume", [[], ["step_7.ckpt"]], ids=["latest", "named"])
def test_resume_without_a_checkpoint_is_one_line_before_any_file_is_written(tmp_path, toy_data, capsys, resume):
    model_dir = tmp_path / "model"
    path = write_config(tmp_path / "run.yaml", tiny_config(toy_data, model_dir))
    assert run_training(path, "--resume", *[str(tmp_path / name) for name in resume]) == 2
    expected = f"no step_<N>.ckpt checkpoint to resume from in {model_dir}"
    if resume:
        expected = f"checkpoint not found: {tmp_path / resume[0]}"
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {expected}"]
    assert not model_dir.exists()


def toy_config_at(tmp_path) -> Path:
    """The README's main job (synthetic_g2t.yaml) with its own data paths and model_dir moved under ``tmp_path``."""
    config = yaml.safe_load((ROOT / "experiments" / "configs" / "synthetic_g2t.yaml").read_text())
    config["data"].update({s: str(tmp_path / "data" / f"toy.{s}") for s in ("train", "dev", "test")})
    config["training"].update(model_dir=str(tmp_path / "model"), device="cpu")
    return write_config(tmp_path / "synthetic_g2t.yaml", config)


def test_quick_start_default_learns_the_toy_language(tmp_path):
    """The README's main job (synthetic_g2t.yaml) generates the toy language, runs and translates it well."""
    assert run_training(toy_config_at(tmp_path)) == 0
    report = json.loads((tmp_path / "model" / "predictions" / "report.json").read_text())
    assert report["test"]["metrics"]["bleu4"] > 80


def test_toy_data_is_never_generated_at_a_path_given_on_the_command_line(tmp_path, capsys):
    typo = tmp_path / "data" / "toy.trian"
    assert run_training(toy_config_at(tmp_path), "-o", f"data.train={typo}") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert f"data.train: annotation file not found: {typo} (toy data is generated only at the config's own" in line
    assert not (tmp_path / "data").exists() and not (tmp_path / "model").exists()


def test_toy_data_is_never_generated_over_an_existing_file(tmp_path, toy_data, capsys):
    config = toy_config_at(tmp_path)
    mine = tmp_path / "data" / "toy.train"
    mine.parent.mkdir()
    shutil.copy(toy_data["train"], mine)
    before = mine.read_bytes()
    assert run_training(config) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: data.dev: not found: {tmp_path / 'data' / 'toy.dev'}, while data.train exists")
    assert mine.read_bytes() == before and not (tmp_path / "model").exists()


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory, toy_data):
    """One G2T epoch on 2 ranks, twice: one torchrun launcher with 2 processes, and 2 launchers as 2 nodes."""
    root = tmp_path_factory.mktemp("two_ranks")
    runs = {}
    for name in ("one_node", "two_nodes"):
        config = tiny_config(toy_data, root / name, training={"epochs": 1})
        runs[name] = (write_config(root / f"{name}.yaml", config), root / name)
    result = torchrun("training.py", ["--config", str(runs["one_node"][0])], cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    endpoint = f"127.0.0.1:{free_port()}"
    launcher = ["--nnodes", "2", "--nproc_per_node", "1", "--rdzv_backend", "c10d"]
    launcher += ["--rdzv_endpoint", endpoint, "--rdzv_id", "two-nodes-test"]
    command = torchrun_command("training.py", ["--config", str(runs["two_nodes"][0])], launcher)
    nodes = [
        subprocess.Popen(
            command, cwd=root, env=torchrun_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=600) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    return {name: model_dir for name, (_, model_dir) in runs.items()}


def test_torchrun_two_processes_end_with_identical_weights(two_ranks):
    log = (two_ranks["one_node"] / "train.log").read_text()
    assert "on 2 rank(s)" in log and "device cpu, precision fp32" in log
    assert "weights identical on 2 ranks: True" in log
    assert (two_ranks["one_node"] / "predictions" / "test.hyp.tsv").is_file()


def test_two_nodes_end_with_the_weights_of_one_node_with_two_ranks(two_ranks):
    """Two torchrun launchers joined by a c10d rendezvous train exactly as one launcher with two ranks."""
    assert "on 2 rank(s)" in (two_ranks["two_nodes"] / "train.log").read_text()
    one = torch.load(two_ranks["one_node"] / "best.ckpt", weights_only=False)
    two = torch.load(two_ranks["two_nodes"] / "best.ckpt", weights_only=False)
    assert one["step"] == two["step"] > 0
    assert one["model"].keys() == two["model"].keys()
    for key, tensor in one["model"].items():
        assert torch.equal(two["model"][key], tensor), key


def test_a_failure_in_preparation_ends_every_rank_with_its_message(tmp_path, toy_data):
    """Corrupt annotations fail on rank 0 (which reads them first); rank 1 stops with the same line."""
    corrupt = tmp_path / "corrupt.train"
    corrupt.write_bytes(b"\x1f\x8b\x08garbage")
    config = tiny_config({**toy_data, "train": str(corrupt)}, tmp_path / "model")
    started = time.monotonic()
    result = torchrun("training.py", ["--config", str(write_config(tmp_path / "run.yaml", config))], cwd=tmp_path)
    assert result.returncode != 0 and time.monotonic() - started < 120
    messages = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(messages) == 2 and messages[0] == messages[1], result.stderr[-3000:]
    assert f"{corrupt}: not a readable" in messages[0]
    assert "[rank1]: Traceback" not in result.stderr and "exitcode  : 2" in result.stderr
    assert not list((tmp_path / "model").glob("*.ckpt"))


def test_training_from_a_pretrained_mbart_directory(tmp_path, toy_data, tiny_mbart_dir):
    """The code path of a real mbart-large-cc25: model and tokenizer from a local directory."""
    config = tiny_config(
        toy_data,
        tmp_path / "model",
        model={"pretrained": str(tiny_mbart_dir)},
        training={"max_steps": 4, "module_learning_rates": {"translator": 1e-4}},
    )
    assert run_training(write_config(tmp_path / "run.yaml", config)) == 0
    assert not (tmp_path / "model" / "text_tokenizer").exists()
    state = torch.load(tmp_path / "model" / "best.ckpt", weights_only=False)
    from transformers import MBartForConditionalGeneration

    vocab_size = MBartForConditionalGeneration.from_pretrained(str(tiny_mbart_dir)).config.vocab_size
    assert state["model"]["translator.mbart.lm_head.weight"].shape[0] == vocab_size
    assert state["metadata"]["text_vocab_size"] == vocab_size


def worker_pids(agent: int) -> dict[int, int]:
    """Local rank -> process id of the workers the torchrun process ``agent`` started (read from /proc)."""
    pids = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            environ = (stat.parent / "environ").read_bytes().split(b"\0") if parent == agent else []
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
        for entry in environ:
            if entry.startswith(b"LOCAL_RANK="):
                pids[int(entry.split(b"=")[1])] = int(stat.parent.name)
    return pids


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds torchrun's workers through Linux's /proc")
def test_a_rank_killed_mid_epoch_is_restarted_by_torchrun_and_ends_with_the_uninterrupted_weights(tmp_path, toy_data):
    schedule = {"epochs": 3, "validate_unit": "steps", "validate_every": 5, "keep_last": 20}
    paths = {}
    for name in ("uninterrupted", "killed"):
        config = tiny_config(toy_data, tmp_path / name, training=schedule)
        paths[name] = write_config(tmp_path / f"{name}.yaml", config)
    restarts = ["--nproc_per_node", "2", "--master_port", str(free_port()), "--max-restarts", "1"]
    command = torchrun_command("training.py", ["--config", str(paths["killed"])], restarts)
    job = subprocess.Popen(command, cwd=tmp_path, env=torchrun_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (tmp_path / "killed" / "step_5.ckpt").is_file() and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(worker_pids(job.pid)[1], signal.SIGKILL)  # rank 1 dies in the middle of the first epoch
    _, err = job.communicate(timeout=600)
    assert job.returncode == 0, err.decode()[-3000:]
    log = (tmp_path / "killed" / "train.log").read_text()
    assert f"torchrun restart 1 after a rank failed: resuming from {tmp_path / 'killed' / 'step_'}" in log
    result = torchrun("training.py", ["--config", str(paths["uninterrupted"])], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    last = RunDirectory(tmp_path / "uninterrupted").step_checkpoints()[-1]
    assert last.name == RunDirectory(tmp_path / "killed").step_checkpoints()[-1].name and last.name != "step_5.ckpt"
    for checkpoint in ("best.ckpt", last.name):
        expected = torch.load(tmp_path / "uninterrupted" / checkpoint, weights_only=False)
        restarted = torch.load(tmp_path / "killed" / checkpoint, weights_only=False)
        assert expected["step"] == restarted["step"]
        for key, tensor in expected["model"].items():
            assert torch.equal(restarted["model"][key], tensor), (checkpoint, key)
