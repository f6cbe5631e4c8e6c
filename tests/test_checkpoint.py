import pytest
import torch

from core.atomic_files import save_atomic
from core.run_directory import RunDirectory
from engine.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    load_model_weights,
    save_step_checkpoint,
)


def test_keeps_the_last_k_and_finds_the_latest(tmp_path):
    for step in (10, 20, 30, 100):
        save_step_checkpoint({"model": {}, "step": step}, RunDirectory(tmp_path), step, keep_last=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step_100.ckpt", "step_30.ckpt"]
    assert latest_checkpoint(RunDirectory(tmp_path)).name == "step_100.ckpt"
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
        latest_checkpoint(RunDirectory(tmp_path))


def test_mismatched_weights_name_the_checkpoint():
    model = torch.nn.Linear(3, 2)
    state = {"model": torch.nn.Linear(4, 2).state_dict()}
    with pytest.raises(CheckpointError, match="other.ckpt: does not fit this model"):
        load_model_weights(model, state, "other.ckpt")


class RunsCode:
    """What a malicious checkpoint carries: unpickling it calls a function of the author's choice."""

    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_a_checkpoint_carrying_a_pickled_object_is_refused_without_running_it(tmp_path, capsys):
    path = tmp_path / "foreign.ckpt"
    torch.save({"model": {"w": torch.ones(2)}, "payload": RunsCode()}, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    assert str(error.value).startswith(f"{path}: refused: it carries pickled Python objects (builtins.print)")
    assert "\n" not in str(error.value) and "this ran" not in capsys.readouterr().out


@pytest.mark.parametrize("written_as", ["legacy torch.save", "plain pickle"])
def test_a_pickled_object_is_refused_by_name_in_every_file_format(tmp_path, capsys, written_as):
    import pickle
    import warnings

    path, state = tmp_path / "foreign.ckpt", {"model": {"w": torch.ones(2)}, "payload": RunsCode()}
    if written_as == "plain pickle":
        path.write_bytes(pickle.dumps(state, protocol=4))
    else:
        torch.save(state, path, _use_new_zipfile_serialization=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning either: the one line says it all
        with pytest.raises(CheckpointError) as error:
            load_checkpoint(path)
    assert str(error.value).startswith(f"{path}: refused: it carries pickled Python objects (builtins.print)")
    assert "weights_only" not in str(error.value) and "this ran" not in capsys.readouterr().out


def test_a_legacy_format_checkpoint_of_plain_data_loads(tmp_path):
    path = tmp_path / "legacy.ckpt"
    torch.save({"model": {"w": torch.ones(2)}, "step": 3}, path, _use_new_zipfile_serialization=False)
    assert load_checkpoint(path)["step"] == 3


def test_training_state_with_the_numpy_rng_loads_weights_only(tmp_path):
    import numpy as np

    from engine.trainer import rng_state

    save_atomic({"model": {"w": torch.ones(2)}, "rng": rng_state(), "step": 3}, tmp_path / "step_3.ckpt")
    state = load_checkpoint(tmp_path / "step_3.ckpt")
    assert state["step"] == 3 and np.array_equal(state["rng"]["numpy"][1], np.random.get_state()[1])
