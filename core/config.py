"""Typed experiment configuration: YAML in, validated dataclasses out.

Every problem (unknown key, wrong type, missing required key, missing input file) raises one
:class:`ConfigError` naming the YAML file and the dotted key, before any work starts.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from core.errors import ToolkitError
from core.run_directory import RunDirectory

TASKS = ("g2t", "s2g", "s2t")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class ConfigError(ToolkitError):
    """A configuration problem, with the file and key at fault in the message."""


def _input_path(**kwargs: Any) -> Any:
    """A field holding a path that must exist when it is set."""
    return field(metadata={"must_exist": True}, **kwargs)


def _one_of(default: Any, choices: tuple) -> Any:
    """A field whose value must be one of ``choices``."""
    return field(default=default, metadata={"choices": choices})


def _range(default: Any, low: float | None = None, high: float | None = None, above: float | None = None) -> Any:
    """A number at least ``low`` (or greater than ``above``) and at most ``high``; ``None`` passes where allowed."""
    return field(default=default, metadata={"range": (low, high, above)})


def _positive(default: Any) -> Any:
    """A count or size: at least 1."""
    return _range(default, low=1)


def _fraction(default: float) -> Any:
    """A probability or share: in [0, 1]."""
    return _range(default, low=0, high=1)


def _check_range(value: Any, bounds: tuple, key: str, source: str) -> None:
    low, high, above = bounds
    if value is None:
        return
    if (low is None or value >= low) and (high is None or value <= high) and (above is None or value > above):
        return
    limits = [f"{sign} {limit}" for sign, limit in ((">=", low), (">", above), ("<=", high)) if limit is not None]
    kind = "an integer" if isinstance(value, int) else "a number"
    raise ConfigError(f"{source}: {key}: {value!r} is out of range: expected {kind} {' and '.join(limits)}")


@dataclass
class SyntheticDataConfig:
    """The built-in toy sign language (see :mod:`dataset.toy_sign_language`)."""

    num_train: int = _positive(2000)
    num_dev: int = _positive(200)
    num_test: int = _positive(200)
    seed: int = 7
    render_size: int = _range(64, low=16)

    def sizes(self) -> dict[str, int]:
        """Samples per split."""
        return {"train": self.num_train, "dev": self.num_dev, "test": self.num_test}


@dataclass
class VideoConfig:
    """Where each sample's video is, and how frames are sampled and augmented (Sign2Gloss input).

    ``path`` is a template for a sample's video under ``root``, filled with ``{name}`` and
    ``{split}``: a folder of frame images (``format: frames``), that folder inside the zip ``root``
    (``zip``) or a video file (``file``, e.g. ``"{name}.mp4"``). Frames whose shorter side exceeds
    ``decode_size`` are scaled down to it as they are decoded (``null``: kept at full size); videos
    longer than ``max_frames`` are subsampled evenly to it.
    """

    root: str
    format: str = _one_of("frames", ("frames", "zip", "file"))
    path: str = "{name}"
    img_size: int = _range(224, low=16)
    decode_size: int | None = _range(256, low=16)
    max_frames: int = _positive(400)
    min_frames: int = _positive(8)
    temporal_rescale: list[float] = field(default_factory=lambda: [0.5, 1.5])
    crop_area: list[float] = field(default_factory=lambda: [0.7, 1.0])
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 1.3])
    colour_jitter: float = _fraction(0.2)
    centre_crop: float = _range(1.0, high=1, above=0)


@dataclass
class RecognitionConfig:
    """The Sign2Gloss network (S3D + visual head), its CTC decoding and WER scoring."""

    s3d_weights: str | None = _input_path(default=None)
    use_block: int = _one_of(4, (1, 2, 3, 4, 5))
    freeze_block: int = _one_of(1, (0, 1, 2, 3, 4, 5))
    bn_momentum: float = _fraction(0.001)
    hidden_dim: int = _positive(512)
    ff_dim: int = _positive(2048)
    dropout: float = _range(0.1, low=0, high=0.99)
    beam_size: int = _positive(5)
    wer_cleanup: str = _one_of("none", ("none", "phoenix-2014t"))
    batch_size: int = _positive(8)


@dataclass
class SignToTextConfig:
    """How Sign2Text starts (the S2G and G2T runs, or their checkpoints), its input and its loss weights.

    ``s2g_run`` and ``g2t_run`` name the upstream run directories: their saved configs give the
    visual head's and the translator's architecture, their vocabularies and best checkpoints the
    defaults of ``tokenizer`` and of ``s2g_checkpoint``/``g2t_checkpoint`` (see
    :func:`_inherit_from_upstream_runs`). ``features`` is the directory of ``<split>.pt`` stores
    written by extract_feature.py; without it the model runs S3D (from the S2G checkpoint) on the
    videos of ``data.video``, trained end to end.
    """

    s2g_run: str | None = _input_path(default=None)
    g2t_run: str | None = _input_path(default=None)
    s2g_checkpoint: str | None = _input_path(default=None)
    g2t_checkpoint: str | None = _input_path(default=None)
    features: str | None = None
    recognition_weight: float = _range(1.0, low=0)
    translation_weight: float = _range(1.0, low=0)


@dataclass
class DataConfig:
    """Where the annotations are and how their text is prepared."""

    train: str
    dev: str
    test: str
    format: str = _one_of("pickle", ("pickle", "phoenix_csv"))
    level: str = _one_of("word", ("word", "char"))
    lowercase_text: bool = True
    max_gloss_length: int = _positive(64)
    max_text_length: int = _positive(96)
    src_lang: str = "de_DE"
    tgt_lang: str = "de_DE"
    synthetic: SyntheticDataConfig | None = None
    video: VideoConfig | None = None

    def split_path(self, split: str) -> str:
        """The annotation file of ``split`` (train, dev or test)."""
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


@dataclass
class TokenizerConfig:
    """Gloss vocabulary and text tokenizer sources; unset means build from the train split."""

    gloss_vocab: str | None = _input_path(default=None)
    text_tokenizer: str | None = _input_path(default=None)
    text_vocab_size: int = _range(3000, low=8)
    text_model_type: str = _one_of("unigram", ("unigram", "bpe"))


@dataclass
class ModelConfig:
    """The mBART translator: a local pretrained directory or an architecture built from scratch."""

    pretrained: str | None = _input_path(default=None)
    d_model: int = _positive(256)
    encoder_layers: int = _positive(3)
    decoder_layers: int = _positive(3)
    attention_heads: int = _positive(4)
    ffn_dim: int = _positive(1024)
    dropout: float = _range(0.1, low=0, high=0.99)
    attention_dropout: float = _range(0.1, low=0, high=0.99)
    activation_dropout: float = _range(0.0, low=0, high=0.99)
    max_position_embeddings: int = _positive(256)
    label_smoothing: float = _range(0.1, low=0, high=0.99)


@dataclass
class GenerationConfig:
    """Beam search settings used by validation and prediction."""

    num_beams: int = _positive(4)
    length_penalty: float = 1.0
    max_length: int = _range(100, low=2)
    batch_size: int = _positive(64)
    # static_cache: this toolkit's beam search over a fixed-size key/value cache (the same token ids
    # as generate(), CUDA graphs on a GPU); transformers: Hugging Face generate(); auto: static_cache
    # on CUDA, generate() elsewhere (faster on the CPU, where a step is bound by arithmetic, not launches)
    decoding: str = _one_of("auto", ("auto", "static_cache", "transformers"))
    cuda_graphs: bool = True  # static_cache on CUDA: replay each decoder step as a CUDA graph


@dataclass
class TrainingConfig:
    """Optimisation, schedule, validation and checkpointing."""

    model_dir: str
    seed: int = _range(42, low=0)
    batch_size: int = _positive(32)
    epochs: int = _positive(30)
    max_steps: int | None = _positive(None)
    optimizer: str = _one_of("adamw", ("adam", "adamw"))
    learning_rate: float = _range(5e-4, above=0)
    module_learning_rates: dict[str, float] = field(default_factory=dict)
    weight_decay: float = _range(0.01, low=0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = _range(500, low=0)
    min_learning_rate: float = _range(1e-6, low=0)
    clip_grad_norm: float = _range(1.0, above=0)
    device: str = _one_of("auto", DEVICES)
    precision: str = _one_of("auto", PRECISIONS)
    validate_every: int = _positive(1)
    validate_unit: str = _one_of("epochs", ("steps", "epochs"))
    keep_last: int = _positive(3)
    log_every: int = _positive(50)
    num_workers: int = _range(0, low=0)
    prefetch_batches: int = _positive(4)  # per DataLoader worker
    bucket_size: int = _positive(50)


@dataclass
class Config:
    """One experiment: a task, its data, tokenizers, model, training and generation settings."""

    task: str = field(metadata={"choices": TASKS})
    data: DataConfig
    training: TrainingConfig
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    recognition: RecognitionConfig = field(default_factory=RecognitionConfig)
    s2t: SignToTextConfig = field(default_factory=SignToTextConfig)


_RENAMED = {"training.bf16": "training.precision (auto | fp32 | bf16 | fp16)"}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp).replace("typing.", ""))


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arg, key, source)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[-1])
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, f"{key}.", source)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{source}: {key}: expected a list, got {value!r}")
        return [_convert(v, item_tp, f"{key}[{i}]", source) for i, v in enumerate(value)]
    if origin is dict:
        _, value_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {value!r}")
        return {str(k): _convert(v, value_tp, f"{key}.{k}", source) for k, v in value.items()}
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            pass
    if (isinstance(value, bool) and tp is not bool) or not isinstance(value, tp):
        raise ConfigError(f"{source}: {key}: expected {_type_name(tp)}, got {value!r}")
    return value


def _build(cls: type, raw: Any, prefix: str, source: str) -> Any:
    """Build dataclass ``cls`` from mapping ``raw``, rejecting unknown and missing keys."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix.rstrip('.') or 'top level'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    renamed = [prefix + name for name in unknown if prefix + name in _RENAMED]
    if renamed:
        raise ConfigError(f"{source}: '{renamed[0]}' is no longer a key: use {_RENAMED[renamed[0]]}")
    if unknown:
        raise ConfigError(f"{source}: unknown key '{prefix}{unknown[0]}' (known keys: {', '.join(fields)})")
    values = {}
    for name, spec in fields.items():
        key = prefix + name
        if name not in raw:
            required = spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
            if required:
                raise ConfigError(f"{source}: missing required key '{key}'")
            continue
        value = _convert(raw[name], hints[name], key, source)
        choices = spec.metadata.get("choices")
        if choices is not None and value not in choices:
            raise ConfigError(f"{source}: {key}: {value!r} is not one of {list(choices)}")
        if "range" in spec.metadata:
            _check_range(value, spec.metadata["range"], key, source)
        if spec.metadata.get("must_exist") and value is not None and not Path(value).exists():
            raise ConfigError(f"{source}: {key}: file or directory not found: {value}")
        values[name] = value
    return cls(**values)


def _apply_override(raw: dict, override: str, source: str) -> None:
    """Set ``a.b.c=value`` (value parsed as YAML) in the nested mapping ``raw``."""
    if "=" not in override:
        raise ConfigError(f"{source}: override '{override}' is not of the form key=value")
    dotted, text = override.split("=", 1)
    *parents, leaf = dotted.strip().split(".")
    node = raw
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{source}: override '{dotted}': '{part}' is not a section")
    node[leaf] = yaml.safe_load(text)


def _check_s2g_inputs(config: Config, source: str) -> None:
    if config.data.video is None:
        raise ConfigError(f"{source}: task s2g needs a 'data.video' section (root, format, ...)")


def _check_s2t_inputs(config: Config, source: str) -> None:
    if config.s2t.features is None and config.data.video is None:
        raise ConfigError(
            f"{source}: task s2t needs s2t.features (what extract_feature.py wrote) or, end to end, 'data.video'"
        )
    if config.tokenizer.gloss_vocab is None:
        raise ConfigError(f"{source}: task s2t needs tokenizer.gloss_vocab (the G2T/S2G run's gloss_vocab.txt)")
    if config.tokenizer.text_tokenizer is None and config.model.pretrained is None:
        raise ConfigError(f"{source}: task s2t needs tokenizer.text_tokenizer or model.pretrained")


_TASK_INPUTS = {"g2t": lambda config, source: None, "s2g": _check_s2g_inputs, "s2t": _check_s2t_inputs}


def _check_task_inputs(config: Config, source: str) -> None:
    """Keys a task needs beyond the defaults, and their consistency."""
    _TASK_INPUTS[config.task](config, source)
    video, recognition = config.data.video, config.recognition
    if recognition.freeze_block > recognition.use_block:
        raise ConfigError(
            f"{source}: recognition.freeze_block ({recognition.freeze_block}) "
            f"is above recognition.use_block ({recognition.use_block})"
        )
    if video is not None:
        _check_video(video, config.data.synthetic is not None, source)
    model, betas = config.model, config.training.betas
    if model.d_model % model.attention_heads:
        raise ConfigError(
            f"{source}: model.d_model ({model.d_model}) is not a multiple of model.attention_heads "
            f"({model.attention_heads})"
        )
    if len(betas) != 2 or not all(0 <= beta < 1 for beta in betas):
        raise ConfigError(f"{source}: training.betas: expected [beta1, beta2], each in [0, 1), got {betas}")
    if any(rate <= 0 for rate in config.training.module_learning_rates.values()):
        raise ConfigError(f"{source}: training.module_learning_rates: every learning rate must be > 0")


def _check_video(video: VideoConfig, synthetic: bool, source: str) -> None:
    if synthetic and video.format == "zip":
        raise ConfigError(f"{source}: data.video.format: the toy videos are written as 'frames' or 'file', not 'zip'")
    if video.decode_size is not None and video.decode_size < video.img_size:
        raise ConfigError(
            f"{source}: data.video.decode_size ({video.decode_size}) is below img_size ({video.img_size}): "
            "set it to at least img_size, or null to keep frames at full size"
        )
    if video.min_frames > video.max_frames:
        raise ConfigError(
            f"{source}: data.video.min_frames ({video.min_frames}) is above max_frames ({video.max_frames})"
        )
    for key in ("temporal_rescale", "crop_area", "crop_ratio"):
        low_high = getattr(video, key)
        if len(low_high) != 2 or not 0 < low_high[0] <= low_high[1]:
            raise ConfigError(f"{source}: data.video.{key}: expected [low, high] with 0 < low <= high")
    if video.crop_area[1] > 1:
        raise ConfigError(f"{source}: data.video.crop_area: a share of the frame, at most 1, got {video.crop_area}")


def _check_data_files(config: Config, source: str, overridden: set[str]) -> None:
    """Real datasets must exist; the synthetic one is generated on demand, at the config's own paths only."""
    if config.data.synthetic is not None:
        for split in ("train", "dev", "test"):
            path = config.data.split_path(split)
            if f"data.{split}" in overridden and not Path(path).is_file():
                raise ConfigError(
                    f"{source}: data.{split}: annotation file not found: {path} (toy data is generated only "
                    "at the config's own paths, not at one given on the command line)"
                )
        return
    for split in ("train", "dev", "test"):
        path = config.data.split_path(split)
        if not Path(path).is_file():
            raise ConfigError(f"{source}: data.{split}: annotation file not found: {path}")
    video = config.data.video
    if video is not None and not Path(video.root).exists():
        raise ConfigError(f"{source}: data.video.root: not found: {video.root}")


def _s2g_tokenizer(saved: Config, run: RunDirectory) -> TokenizerConfig:
    return TokenizerConfig(gloss_vocab=saved.tokenizer.gloss_vocab or str(run.gloss_vocab))


def _g2t_tokenizer(saved: Config, run: RunDirectory) -> TokenizerConfig:
    text = saved.tokenizer.text_tokenizer or saved.model.pretrained or str(run.text_tokenizer)
    return TokenizerConfig(text_tokenizer=text)


# what an S2T config takes from an upstream run: (its task, config section, architecture keys, tokenizer keys)
_UPSTREAM = {
    "s2g_run": ("s2g", "recognition", ("use_block", "hidden_dim", "ff_dim"), _s2g_tokenizer),
    "g2t_run": (
        "g2t",
        "model",
        (
            "pretrained",
            "d_model",
            "encoder_layers",
            "decoder_layers",
            "attention_heads",
            "ffn_dim",
            "max_position_embeddings",
        ),
        _g2t_tokenizer,
    ),
}


def _saved_config(run: RunDirectory, key: str, task: str, source: str) -> Config:
    """The resolved config an upstream run saved, validated and checked to be of ``task``."""
    if not run.config.is_file():
        raise ConfigError(f"{source}: {key}: {run.root} holds no {run.config.name} (train that run first)")
    saved = config_from_dict(yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}, str(run.config))
    if saved.task != task:
        raise ConfigError(f"{source}: {key}: {run.root} is a '{saved.task}' run, not '{task}'")
    return saved


def _inherit_from_upstream_runs(raw: dict, source: str) -> None:
    """Fill an S2T config from ``s2t.s2g_run`` and ``s2t.g2t_run``: architecture, vocabularies, checkpoints.

    An architecture key the S2T config restates must agree with the upstream run's; training
    choices (dropout, freezing, beam size, ...) stay the S2T config's own, and so does a
    vocabulary or checkpoint it names.
    """
    s2t = raw.get("s2t") if isinstance(raw.get("s2t"), dict) else {}
    for key, (task, section, architecture, tokenizer_of) in _UPSTREAM.items():
        if s2t.get(key) is None:
            continue
        run = RunDirectory(Path(str(s2t[key])))
        saved = _saved_config(run, f"s2t.{key}", task, source)
        own = raw.setdefault(section, {})
        for name in architecture:
            inherited = getattr(getattr(saved, section), name)
            if name in own and own[name] != inherited:
                raise ConfigError(
                    f"{source}: {section}.{name}: {own[name]!r} differs from the {task} run's {inherited!r} "
                    f"(s2t.{key}: {run.root}); leave it out, it comes from that run"
                )
            own[name] = inherited
        defaults, given = dataclasses.asdict(TokenizerConfig()), dataclasses.asdict(tokenizer_of(saved, run))
        for name in (name for name, value in given.items() if value != defaults[name]):
            raw.setdefault("tokenizer", {}).setdefault(name, given[name])
        s2t.setdefault(f"{task}_checkpoint", str(run.best_checkpoint))


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate the YAML config at ``path``."""
    source = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"config file not found: {source}")
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    for override in overrides:
        _apply_override(raw, override, source)
    _inherit_from_upstream_runs(raw, source)
    config = config_from_dict(raw, source)
    _check_data_files(config, source, {override.split("=", 1)[0].strip() for override in overrides})
    return config


def config_from_dict(raw: dict, source: str) -> Config:
    """A config from plain data (a checkpoint's, or parsed YAML), validated except that its files need not exist."""
    config = _build(Config, raw, "", source)
    _check_task_inputs(config, source)
    return config


def config_to_dict(config: Config) -> dict:
    """The config as plain data (for YAML dumps and checkpoints)."""
    return dataclasses.asdict(config)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
