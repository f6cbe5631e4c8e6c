"""Nothing lost at the edges of a run: a kill at any file write, a kill between the best and the step
checkpoint, a failed ``--resume``; each ends, after a resume, as the uninterrupted run ends."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from core.run_directory import RunDirectory
from engine import checkpoint as checkpoint_module
from engine import trainer as trainer_module
from engine.jobs import prediction
from engine.jobs import training_run as training
from tests.conftest import tiny_config, write_config

pytestmark = pytest.mark.slow
SHORT = {"max_steps": 6, "validate_every": 2, "validate_unit": "steps", "keep_last": 3}


class Killed(BaseException):
    """Stands for a kill -9: no ``except Exception`` of the toolkit catches it."""


def run_training(config_path: Path, *extra: str) -> int:
    return training.main(["--config", str(config_path), *extra])


def short_run(directory: Path, toy_data) -> Path:
    """The config of a 6-step G2T run validated every 2 steps, training into ``directory / 'model'``."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_config(directory / "run.yaml", tiny_config(toy_data, directory / "model", training=SHORT))


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"]


def assert_same_weights(found: Path, expected: Path) -> None:
    theirs = weights(expected)
    ours = weights(found)
    assert ours.keys() == theirs.keys()
    for key, tensor in theirs.items():
        assert torch.equal(ours[key], tensor), f"{found.name}: {key}"


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, toy_data) -> Path:
    """The short run, trained to its end without interruption; returns its model_dir."""
    root = tmp_path_factory.mktemp("uninterrupted")
    assert run_training(short_run(root, toy_data)) == 0
    return root / "model"


def test_a_kill_between_the_step_checkpoint_and_the_best_one_loses_nothing(uninterrupted, tmp_path, toy_data):
    """The issue's reproduction: a run directory holding the best step's checkpoint but no ``best.ckpt``."""
    best_step = torch.load(uninterrupted / "best.ckpt", weights_only=False)["step"]
    config = short_run(tmp_path, toy_data)
    gap = tmp_path / "model"
    gap.mkdir()
    for name in ("config.yaml", "gloss_vocab.txt", f"step_{best_step}.ckpt"):
        shutil.copy(uninterrupted / name, gap / name)
    shutil.copytree(uninterrupted / "text_tokenizer", gap / "text_tokenizer")
    assert run_training(config, "--resume") == 0
    assert_same_weights(gap / "best.ckpt", uninterrupted / "best.ckpt")
    assert_same_weights(gap / "step_6.ckpt", uninterrupted / "step_6.ckpt")
    assert "best.ckpt was missing: restored from" in (gap / "train.log").read_text()


# the file writes of a run, where a kill is injected: (module, function); each takes the path second
WRITES = [
    (training, "save_config"),
    (trainer_module, "save_atomic"),
    (checkpoint_module, "save_atomic"),
    (prediction, "write_report"),
]


def writes_of(monkeypatch, kill_at: int | None = None) -> list[str]:
    """Count a run's file writes from now on; at write ``kill_at``, die instead (in a checkpoint write: mid-write,
    its temporary file left behind, the destination untouched)."""
    seen: list[str] = []
    for module, name in WRITES:
        monkeypatch.setattr(module, name, counting(getattr(module, name), name, seen, kill_at))
    return seen


def counting(write, name: str, seen: list[str], kill_at: int | None):
    def counted(*args, **kwargs):
        path = Path(args[1])
        if len(seen) == kill_at:
            if name == "save_atomic":
                (path.parent / f".{path.name}.k1ll3d00.tmp").write_bytes(b"half a checkpoint")
            raise Killed(f"killed while writing {path.name}")
        seen.append(path.name)
        return write(*args, **kwargs)

    return counted


def test_a_kill_at_any_file_write_then_a_resume_ends_as_the_uninterrupted_run(
    uninterrupted, tmp_path, toy_data, monkeypatch
):
    with monkeypatch.context() as counting:
        writes = writes_of(counting)
        assert run_training(short_run(tmp_path / "count", toy_data)) == 0
    assert writes[:3] == ["config.yaml", "best.ckpt", "step_2.ckpt"]  # the best before the step
    assert writes[-1] == "report.json" and len(writes) >= 6
    for kill_at in range(len(writes)):
        root = tmp_path / f"kill{kill_at}"
        config = short_run(root, toy_data)
        with monkeypatch.context() as killing, pytest.raises(Killed):
            writes_of(killing, kill_at)
            run_training(config)
        resumed = RunDirectory(root / "model").step_checkpoints()
        assert run_training(config, *(["--resume"] if resumed else [])) == 0, f"kill at write {kill_at}"
        model = root / "model"
        assert_same_weights(model / "step_6.ckpt", uninterrupted / "step_6.ckpt")
        assert_same_weights(model / "best.ckpt", uninterrupted / "best.ckpt")
        assert not list(model.glob(".*.tmp")), f"kill at write {kill_at}: a temporary file is left"
        assert RunDirectory(model).predictions.report.is_file()


def test_a_failed_resume_leaves_every_file_of_the_run_as_it_was(uninterrupted, tmp_path, toy_data, capsys):
    run = tmp_path / "model"
    shutil.copytree(uninterrupted, run)
    truncated = run / "step_4.ckpt"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    before = hashes(run)
    config = yaml.safe_load(short_run(tmp_path, toy_data).read_text())
    path = write_config(tmp_path / "changed.yaml", config)
    assert run_training(path, "-o", "training.learning_rate=5e-4", "--resume", str(truncated)) == 2
    assert f"{truncated}: not a readable checkpoint" in capsys.readouterr().err
    assert hashes(run) == before


def test_a_failed_resume_into_a_new_directory_leaves_nothing(uninterrupted, tmp_path, toy_data, capsys):
    foreign = tmp_path / "foreign.ckpt"
    foreign.write_bytes((uninterrupted / "step_4.ckpt").read_bytes()[:1000])
    config = short_run(tmp_path, toy_data)
    assert run_training(config, "--resume", str(foreign)) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_a_resume_that_does_not_fit_the_model_leaves_the_run_as_it_was(uninterrupted, tmp_path, toy_data, capsys):
    run = tmp_path / "model"
    shutil.copytree(uninterrupted, run)
    before = hashes(run)
    path = short_run(tmp_path, toy_data)
    assert run_training(path, "-o", "model.ffn_dim=48", "--resume") == 2
    assert "does not fit this model's configuration" in capsys.readouterr().err
    assert hashes(run) == before
