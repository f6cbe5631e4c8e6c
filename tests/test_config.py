from pathlib import Path

import pytest

from core.config import ConfigError, load_config
from tests.conftest import ROOT, tiny_config, tiny_s2g_config, write_config


@pytest.fixture()
def config_path(tmp_path, toy_data) -> Path:
    return write_config(tmp_path / "run.yaml", tiny_config(toy_data, tmp_path / "model"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("training.epochs=-1", "training.epochs: -1 is out of range: expected an integer >= 1"),
        ("training.batch_size=0", "training.batch_size: 0 is out of range: expected an integer >= 1"),
        ("training.max_steps=0", "training.max_steps: 0 is out of range: expected an integer >= 1"),
        ("training.learning_rate=0", "training.learning_rate: 0.0 is out of range: expected a number > 0"),
        ("model.dropout=1.5", "model.dropout: 1.5 is out of range: expected a number >= 0 and <= 0.99"),
        ("model.label_smoothing=-0.1", "model.label_smoothing: -0.1 is out of range"),
        ("generation.num_beams=0", "generation.num_beams: 0 is out of range"),
        ("training.num_workers=-2", "training.num_workers: -2 is out of range: expected an integer >= 0"),
        ("model.attention_heads=5", "model.d_model (32) is not a multiple of model.attention_heads (5)"),
        ("training.betas=[0.9,1.0]", "training.betas: expected [beta1, beta2], each in [0, 1)"),
    ],
)
def test_values_out_of_range_are_one_message_naming_the_key(config_path, override, message):
    with pytest.raises(ConfigError) as error:
        load_config(config_path, [override])
    assert message in str(error.value) and str(config_path) in str(error.value)


def test_no_early_stopping_is_a_setting_of_every_decoding(config_path):
    for decoding in ("auto", "static_cache", "transformers"):
        overrides = ["generation.early_stopping=false", f"generation.decoding={decoding}"]
        assert not load_config(config_path, overrides).generation.early_stopping


def test_video_relations_are_checked(tmp_path):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    config["data"]["video"].update({"min_frames": 20, "max_frames": 16})
    with pytest.raises(ConfigError, match=r"data.video.min_frames \(20\) is above max_frames \(16\)"):
        load_config(write_config(tmp_path / "run.yaml", config))
    config["data"]["video"].update({"min_frames": 8, "crop_area": [0.8, 1.2]})
    with pytest.raises(ConfigError, match="data.video.crop_area: a share of the frame, at most 1"):
        load_config(write_config(tmp_path / "run.yaml", config))


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
        (
            {"training": {"precision": "fp8"}},
            "training.precision: 'fp8' is not one of ['auto', 'fp32', 'bf16', 'fp16']",
        ),
        ({"training": {"device": "tpu"}}, "training.device: 'tpu' is not one of ['auto', 'cpu', 'cuda']"),
        ({"training": {"bf16": True}}, "'training.bf16' is no longer a key: use training.precision"),
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
def test_shipped_configs_parse(name, pipeline):
    """Every shipped config is valid apart from data files a user has not downloaded yet.

    An S2T config reads its upstream runs' saved configs: the tiny runs of the ``pipeline`` stand in.
    """
    root, _ = pipeline
    upstream = [f"s2t.s2g_run={root / 's2g'}", f"s2t.g2t_run={root / 'g2t'}"] if "_s2t" in name else []
    try:
        load_config(ROOT / "experiments" / "configs" / name, upstream)
    except ConfigError as error:
        assert "annotation file not found" in str(error) or "file or directory not found" in str(error)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": {"video": None}}, "task s2g with encoder 's3d' needs a 'data.video' section"),
        (
            {"recognition": {"encoder": {"use_block": 2, "freeze_block": 3}}},
            "freeze_block (3) is above recognition.encoder.use_block (2)",
        ),
        ({"recognition": {"encoder": {"use_block": 6}}}, "recognition.encoder.use_block: 6 is not one of"),
        ({"recognition": {"encoder": {"type": "mlp"}}}, "recognition.encoder.type: 'mlp' is not one of ['s3d'"),
        ({"data": {"video": {"root": "v", "format": "zip"}}}, "the toy videos are written as 'frames' or 'file'"),
        ({"data": {"video": {"root": "v", "temporal_rescale": [1.5, 0.5]}}}, "data.video.temporal_rescale: expected"),
        ({"data": {"video": {"root": "v", "format": "avi"}}}, "data.video.format: 'avi' is not one of"),
        ({"data": {"video": {"root": "v", "decode_size": 200}}}, "decode_size (200) is below img_size (224)"),
        (
            {"data": {"video": {"root": "v", "centre_crop": 0.9, "centre_crop_pixels": 224}}},
            "give centre_crop or centre_crop_pixels, not both",
        ),
    ],
)
def test_s2g_settings_are_checked(tmp_path, change, message):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    for section, values in change.items():
        config[section] = {**config[section], **values}
    with pytest.raises(ConfigError) as error:
        load_config(write_config(tmp_path / "s2g.yaml", config))
    assert message in str(error.value)


def test_real_s2g_data_needs_its_video_root(tmp_path, toy_data):
    config = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    config["data"] = {**config["data"], **toy_data, "synthetic": None}
    with pytest.raises(ConfigError, match=r"data.video.root: not found: .*data"):
        load_config(write_config(tmp_path / "s2g.yaml", config))


def test_an_s2t_config_takes_architecture_vocabularies_and_checkpoints_from_its_upstream_runs(pipeline, tmp_path):
    root, s2t_path = pipeline
    config = load_config(s2t_path)
    s2g, g2t = load_config(root / "s2g" / "config.yaml"), load_config(root / "g2t" / "config.yaml")
    for key in ("hidden_dim", "ff_dim"):
        assert getattr(config.recognition, key) == getattr(s2g.recognition, key), key
    assert config.recognition.encoder.use_block == s2g.recognition.encoder.use_block
    assert (config.model.d_model, config.model.ffn_dim) == (g2t.model.d_model, g2t.model.ffn_dim)
    assert config.recognition.beam_size == 3 and config.recognition.encoder.freeze_block == 0  # its own choices
    assert config.tokenizer.gloss_vocab == str(root / "s2g" / "gloss_vocab.txt")
    assert config.tokenizer.text_tokenizer == str(root / "g2t" / "text_tokenizer")
    assert (config.s2t.s2g_checkpoint, config.s2t.g2t_checkpoint) == (
        str(root / "s2g" / "best.ckpt"),
        str(root / "g2t" / "best.ckpt"),
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("recognition.hidden_dim=48", r"recognition.hidden_dim: 48 differs from the s2g run's 32 \(s2t.s2g_run: "),
        ("model.d_model=64", r"model.d_model: 64 differs from the g2t run's 32 \(s2t.g2t_run: "),
        ("recognition.head_variant=paper", r"recognition.head_variant: 'paper' differs from the s2g run's 'toolkit'"),
        ("model.input_scale=paper", r"model.input_scale: 'paper' differs from the g2t run's 'embedding'"),
        ("s2t.g2t_run={s2g}", r"s2t.g2t_run: .*s2g is a 's2g' run, not 'g2t'"),
        ("s2t.s2g_run={tmp}", r"s2t.s2g_run: .* holds no config.yaml \(train that run first\)"),
    ],
)
def test_an_s2t_config_that_disagrees_with_its_upstream_runs_is_refused(pipeline, tmp_path, override, message):
    root, s2t_path = pipeline
    override = override.format(s2g=root / "s2g", tmp=tmp_path)
    with pytest.raises(ConfigError, match=message):
        load_config(s2t_path, [override])
    load_config(s2t_path, ["recognition.hidden_dim=32"])  # restated as it is: accepted


def test_a_config_written_before_encoders_were_plug_ins_loads_as_the_nested_one(tmp_path):
    nested = tiny_s2g_config(tmp_path / "data", tmp_path / "model")
    flat = {**nested, "recognition": {**nested["recognition"]}}
    encoder = flat["recognition"].pop("encoder")
    flat["recognition"].update({key: value for key, value in encoder.items() if key != "type"}, s3d_weights=None)
    assert "type" not in flat["recognition"]  # a missing encoder type means S3D
    old = load_config(write_config(tmp_path / "flat.yaml", flat))
    assert old == load_config(write_config(tmp_path / "nested.yaml", nested))
    assert old.recognition.encoder.type == "s3d" and old.recognition.encoder.use_block == 1
    with pytest.raises(ConfigError, match="recognition.use_block and recognition.encoder.use_block disagree"):
        load_config(write_config(tmp_path / "nested.yaml", nested), ["recognition.use_block=2"])
