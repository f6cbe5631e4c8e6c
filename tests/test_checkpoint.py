import pytest
import torch

from engine.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_model_weights,
    save_atomic,
    save_step_checkpoint,
)


def test_keeps_the_last_k_and_finds_the_latest(tmp_path):
    for step in (10, 20, 30, 100):
        save_step_checkpoint({"model": {}, "step": step}, tmp_path, step, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_100.ckpt", "step_30.ckpt"]
    assert latest_checkpoint(tmp_path).name == "step_100.ckpt"
    assert load_checkpoint(tmp_path / "step_30.ckpt")["step"] == 30


def test_failed_write_leaves_old_file_and_no_partial(tmp_path, monkeypatch):
    path = tmp_path / "best.ckpt"
    save_atomic({"model": {"w": torch.ones(2)}}, path)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_atomic({"model": {"w": torch.zeros(2)}}, path)
    assert [p.name for p in tmp_path.iterdir()] == ["best.ckpt"]
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_missing_corrupt_and_foreign_checkpoints_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "best.ckpt")
    (tmp_path / "corrupt.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.ckpt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "corrupt.ckpt")
    torch.save({"weights": 1}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        load_checkpoint(tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match="no step_<N>.ckpt"):
        latest_checkpoint(tmp_path)


def test_mismatched_weights_name_the_checkpoint():
    model = torch.nn.Linear(3, 2)
    state = {"model": torch.nn.Linear(4, 2).state_dict()}
    with pytest.raises(CheckpointError, match="other.ckpt: does not fit this model"):
        load_model_weights(model, state, "other.ckpt")
