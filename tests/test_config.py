from pathlib import Path

import pytest

from engine.config import ConfigError, load_config
from tests.conftest import ROOT, tiny_config, write_config


@pytest.fixture()
def config_path(tmp_path, toy_data) -> Path:
    return write_config(tmp_path / "run.yaml", tiny_config(toy_data, tmp_path / "model"))


def test_valid_config_is_typed(config_path):
    config = load_config(config_path)
    assert config.task == "g2t"
    assert config.training.learning_rate == pytest.approx(3e-3)
    assert isinstance(config.training.betas, list) and config.model.d_model == 32


def test_overrides_set_single_keys(config_path):
    config = load_config(config_path, ["training.learning_rate=1e-4", "generation.num_beams=7"])
    assert config.training.learning_rate == pytest.approx(1e-4)
    assert config.generation.num_beams == 7


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"training": {"learnin_rate": 0.1}}, "unknown key 'training.learnin_rate'"),
        ({"training": {"batch_size": "big"}}, "training.batch_size: expected int"),
        ({"training": {"epochs": 2.5}}, "training.epochs: expected int"),
        ({"model": {"dropout": True}}, "model.dropout: expected float"),
        ({"data": {"level": "syllable"}}, "data.level: 'syllable' is not one of"),
        ({"data": {"train": "/nonexistent/train.pkl"}}, "data.train: annotation file not found"),
        ({"model": {"pretrained": "/nonexistent/mbart"}}, "model.pretrained: file or directory not found"),
        ({"task": "s2x"}, "task: 's2x' is not one of"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path, toy_data, change, message):
    raw = tiny_config(toy_data, tmp_path / "model")
    for section, values in change.items():
        raw[section] = {**raw[section], **values} if isinstance(values, dict) else values
    path = write_config(tmp_path / "bad.yaml", raw)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)
    assert str(path) in str(error.value)


def test_missing_required_key(tmp_path, toy_data):
    raw = tiny_config(toy_data, tmp_path / "model")
    del raw["training"]["model_dir"]
    with pytest.raises(ConfigError, match="missing required key 'training.model_dir'"):
        load_config(write_config(tmp_path / "bad.yaml", raw))


def test_bad_override_and_missing_file(config_path):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(config_path, ["training.learning_rate"])
    with pytest.raises(ConfigError, match="unknown key 'training.nope'"):
        load_config(config_path, ["training.nope=1"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(config_path.with_name("absent.yaml"))


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "experiments" / "configs").glob("*.yaml")))
def test_shipped_configs_parse(name):
    """Every shipped config is valid apart from data files a user has not downloaded yet."""
    try:
        load_config(ROOT / "experiments" / "configs" / name)
    except ConfigError as error:
        assert "annotation file not found" in str(error) or "file or directory not found" in str(error)
