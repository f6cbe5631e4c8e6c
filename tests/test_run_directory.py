from pathlib import Path

from core.config import load_config
from core.run_directory import RunDirectory
from tests.conftest import tiny_config, write_config


def test_a_run_directory_names_every_file_of_a_run(tmp_path):
    run = RunDirectory(tmp_path)
    assert run.config == tmp_path / "config.yaml" and run.log == tmp_path / "train.log"
    assert run.gloss_vocab == tmp_path / "gloss_vocab.txt" and run.text_tokenizer == tmp_path / "text_tokenizer"
    assert run.best_checkpoint == tmp_path / "best.ckpt" and run.step_checkpoint(7) == tmp_path / "step_7.ckpt"
    assert run.predictions.report == tmp_path / "predictions" / "report.json"
    assert run.predictions.hypotheses("dev") == tmp_path / "predictions" / "dev.hyp.tsv"
    assert run.features == tmp_path / "features" and run.tensorboard == tmp_path / "tensorboard"


def test_step_checkpoints_are_ordered_by_step_not_by_name(tmp_path):
    for name in ("step_10.ckpt", "step_9.ckpt", "step_100.ckpt", "best.ckpt", "step_x.ckpt", "step_3.ckpt.tmp"):
        (tmp_path / name).touch()
    names = [p.name for p in RunDirectory(tmp_path).step_checkpoints()]
    assert names == ["step_9.ckpt", "step_10.ckpt", "step_100.ckpt"]


def test_the_run_directory_of_a_config_is_its_model_dir(tmp_path, toy_data):
    config = load_config(write_config(tmp_path / "run.yaml", tiny_config(toy_data, tmp_path / "model")))
    assert RunDirectory.of(config) == RunDirectory(Path(tmp_path / "model"))
