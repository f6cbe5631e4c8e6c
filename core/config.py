"""Typed experiment configuration: YAML in, validated dataclasses out, for any registered task.

A config names its ``task``; every config has ``data`` and ``training``, and each task adds the
sections it reads (``recognition``, ``model``, ...), given as dataclasses when the task registers
its :class:`TaskSchema`. This module validates whatever it is given and names no task: every
problem (unknown key, wrong type, a value out of range or not one of those allowed, missing required
key, missing input file, a section's own consistency check) raises one :class:`ConfigError` naming
the YAML file and the dotted key, before any work starts.

A field may be *registered*: its dataclass is picked by the field's ``type`` key from a
:class:`~core.registry.Registry` (the encoder of ``recognition.encoder``, for one); a missing
``type`` means the field's default. A section dataclass may upgrade the keys of older configs
(a static method ``upgrade_keys(raw)``) and check itself in ``__post_init__``: a ``ValueError`` there
becomes a :class:`ConfigError` in which the section's field names are dotted keys.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from core.errors import ToolkitError
from core.registry import Registry, RegistryError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
GENERIC_SECTIONS = ("task", "data", "training")


class ConfigError(ToolkitError):
    """A configuration problem, with the file and key at fault in the message."""


def setting(
    default: Any = dataclasses.MISSING,
    *,
    choices: tuple | None = None,
    bounds: tuple | None = None,
    must_exist: bool = False,
    architecture: bool = False,
) -> Any:
    """A field with what validation checks: allowed ``choices``, ``bounds`` (low, high, above), a path that
    ``must_exist`` when set; ``architecture``: it sizes a network, so a run built on another's must agree."""
    metadata = {"architecture": architecture, "must_exist": must_exist}
    if choices is not None:
        metadata["choices"] = choices
    if bounds is not None:
        metadata["range"] = bounds
    return field(default=default, metadata=metadata)


def input_path(default: Any = None) -> Any:
    """A field holding a path that must exist when it is set."""
    return setting(default, must_exist=True)


def one_of(default: Any, choices: tuple, architecture: bool = False) -> Any:
    """A field whose value must be one of ``choices``."""
    return setting(default, choices=choices, architecture=architecture)


def in_range(default: Any, low: float | None = None, high: float | None = None, above: float | None = None) -> Any:
    """A number at least ``low`` (or greater than ``above``) and at most ``high``; ``None`` passes where allowed."""
    return setting(default, bounds=(low, high, above))


def positive(default: Any, architecture: bool = False) -> Any:
    """A count or size: at least 1."""
    return setting(default, bounds=(1, None, None), architecture=architecture)


def fraction(default: float) -> Any:
    """A probability or share: in [0, 1]."""
    return in_range(default, low=0, high=1)


def registered(registry: Registry, default: type) -> Any:
    """A section whose dataclass its ``type`` key picks from ``registry`` (missing: ``default``'s type)."""
    metadata = {"registry": registry, "default_type": registry.name_of(default), "architecture": False}
    return field(default_factory=default, metadata=metadata)


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

    num_train: int = positive(2000)
    num_dev: int = positive(200)
    num_test: int = positive(200)
    seed: int = 7
    render_size: int = in_range(64, low=16)

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
    format: str = one_of("frames", ("frames", "zip", "file"))
    path: str = "{name}"
    img_size: int = in_range(224, low=16)
    decode_size: int | None = in_range(256, low=16)
    max_frames: int = positive(400)
    min_frames: int = positive(8)
    temporal_rescale: list[float] = field(default_factory=lambda: [0.5, 1.5])
    crop_area: list[float] = field(default_factory=lambda: [0.7, 1.0])
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 1.3])
    colour_jitter: float = fraction(0.2)
    centre_crop: float = in_range(1.0, high=1, above=0)
    # evaluation: a centre square of this many pixels of the decoded frame instead (black where the
    # frame is smaller, as torchvision's CenterCrop; the paper's PHOENIX-2014T: 224 of 260x210)
    centre_crop_pixels: int | None = in_range(None, low=1)
    # how decode_size scales frames: toolkit (images bilinear, videos ffmpeg's area average); bicubic:
    # PIL's bicubic filter on the whole image (the paper's CSL-Daily reader), ffmpeg's bicubic for videos
    decode_resampling: str = one_of("toolkit", ("toolkit", "bicubic"))
    # even: frames evenly spaced, resampled to a multiple of 4; paper: the paper's code's selection
    # (every frame in evaluation, the last n % 4 dropped; a random subset in training)
    frame_selection: str = one_of("even", ("even", "paper"))
    # kinetics: RGB with Kinetics mean and std (torchvision's S3D weights); paper: BGR, (x - 0.5) / 0.5
    # (the paper's S3D weights)
    normalisation: str = one_of("kinetics", ("kinetics", "paper"))


@dataclass
class KeypointsConfig:
    """Where each split's keypoints are and how they are prepared (a keypoint stream's input).

    ``path``: the split's keypoint file, ``{split}`` filled in (or, without it, one file for every split,
    as the paper ships): the paper's keypoint pickle (``{name: {"keypoints": T×133×3}}``); the toy data
    writes its signer's there. ``selection``: the
    joints taken (``paper-79``: the paper's 79 of COCO-WholeBody; ``mediapipe-79``: their kinds of
    MediaPipe Holistic's). Training flips the signer with probability ``flip`` (left and right
    swapped), rescales time within ``temporal_rescale`` and turns, scales and shears within bounds.
    """

    path: str
    # paper_pickle: one file; pose_files: a folder of <name>.pose files (what extract_keypoints.py writes)
    format: str = one_of("paper_pickle", ("paper_pickle", "pose_files"))
    selection: str = one_of("paper-79", ("paper-79", "mediapipe-79"))
    # [height, width] of the frames whose pixels the keypoints are in, where the file does not say
    # (the paper's PHOENIX-2014T keypoints: [260, 210]); the heatmap encoder needs it
    frame_size: list[int] | None = None
    interpolate_missing: bool = True
    flip: float = fraction(0.0)  # the paper's code: never
    temporal_rescale: list[float] = field(default_factory=lambda: [0.8, 1.2])
    rotation: float = in_range(10.0, low=0, high=90)  # degrees
    scale: list[float] = field(default_factory=lambda: [0.9, 1.1])
    shear: float = in_range(0.1, low=0, high=1)

    def __post_init__(self) -> None:
        for name in ("temporal_rescale", "scale"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name}: expected [low, high] with 0 < low <= high, got {[low, high]}")


@dataclass
class DataConfig:
    """Where the annotations are and how their text is prepared."""

    train: str
    dev: str
    test: str
    format: str = one_of("pickle", ("pickle", "phoenix_csv"))
    level: str = one_of("word", ("word", "char"))
    lowercase_text: bool = True
    lowercase_glosses: bool = False  # the paper's code: true (its gloss vocabularies are lower-case)
    max_gloss_length: int = positive(64)
    max_text_length: int = positive(96)
    src_lang: str = "de_DE"
    tgt_lang: str = "de_DE"
    synthetic: SyntheticDataConfig | None = None
    video: VideoConfig | None = None
    keypoints: KeypointsConfig | None = None

    def split_path(self, split: str) -> str:
        """The annotation file of ``split`` (train, dev or test)."""
        return {"train": self.train, "dev": self.dev, "test": self.test}[split]


@dataclass
class TrainingConfig:
    """Optimisation, schedule, validation and checkpointing."""

    model_dir: str
    seed: int = in_range(42, low=0)
    batch_size: int = positive(32)
    epochs: int = positive(30)
    max_steps: int | None = positive(None)
    optimizer: str = one_of("adamw", ("adam", "adamw"))
    learning_rate: float = in_range(5e-4, above=0)
    module_learning_rates: dict[str, float] = field(default_factory=dict)
    # modules trained not at all, by their dotted path (e.g. gloss_embedding, translator.mbart.model.shared:
    # the paper's PHOENIX-2014T translator keeps its gloss and text embeddings as they start)
    frozen_modules: list[str] = field(default_factory=list)
    weight_decay: float = in_range(0.01, low=0)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    warmup_steps: int = in_range(500, low=0)
    min_learning_rate: float = in_range(1e-6, low=0)
    clip_grad_norm: float = in_range(1.0, above=0)
    device: str = one_of("auto", DEVICES)
    precision: str = one_of("auto", PRECISIONS)
    validate_every: int = positive(1)
    validate_unit: str = one_of("epochs", ("steps", "epochs"))
    keep_last: int = positive(3)
    log_every: int = positive(50)
    num_workers: int = in_range(0, low=0)
    prefetch_batches: int = positive(4)  # per DataLoader worker
    bucket_size: int = positive(50)


@dataclass(frozen=True)
class TaskSchema:
    """What a task's config holds beyond ``data`` and ``training``, given when the task registers.

    ``sections``: the config sections it reads, by name, as dataclasses (a section several tasks
    read is the same dataclass in each); ``check``: consistency checks of the built config;
    ``resolve``: fills the raw mapping before it is validated (e.g. from upstream runs' configs).
    """

    sections: dict[str, type]
    check: Callable[[Config, str], None] | None = None
    resolve: Callable[[dict, str], None] | None = None


TASK_SCHEMAS: Registry[TaskSchema] = Registry("task")
SECTIONS: dict[str, type] = {}  # every section a registered task reads, by name


def register_task_schema(name: str, schema: TaskSchema) -> None:
    """Make configs of task ``name`` valid; a section name means one dataclass whichever task reads it."""
    for section, cls in schema.sections.items():
        if section in GENERIC_SECTIONS or SECTIONS.get(section, cls) is not cls:
            raise RegistryError(f"task '{name}': config section '{section}' is already another dataclass")
    TASK_SCHEMAS.add(name, schema)
    SECTIONS.update(schema.sections)


class Config:
    """One experiment: its task, data and training settings, and the sections its task reads (as attributes)."""

    def __init__(self, task: str, data: DataConfig, training: TrainingConfig, **sections: Any) -> None:
        self.task, self.data, self.training, self.sections = task, data, training, sections

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("sections", {})
        if name not in sections:
            raise AttributeError(f"a '{self.__dict__.get('task')}' config has no section '{name}'")
        return sections[name]

    def replace(self, **changes: Any) -> Config:
        """A copy with the named settings or sections replaced."""
        values = {"task": self.task, "data": self.data, "training": self.training, **self.sections, **changes}
        return Config(**values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and config_to_dict(self) == config_to_dict(other)

    def __repr__(self) -> str:
        return f"Config({config_to_dict(self)!r})"


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


def _build_registered(spec: dataclasses.Field, value: Any, key: str, source: str) -> Any:
    """A registered field: the dataclass its ``type`` names (missing: the field's default type)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: {key}: expected a mapping")
    registry: Registry = spec.metadata["registry"]
    kind = value.get("type", spec.metadata["default_type"])
    if kind not in registry:
        raise ConfigError(f"{source}: {key}.type: {kind!r} is not one of {list(registry.names())}")
    return _build(registry[kind], {**value, "type": kind}, f"{key}.", source)


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
        if "registry" in spec.metadata:
            values[name] = _build_registered(spec, raw[name], key, source)
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
    try:
        return cls(**values)
    except ValueError as error:  # the section's own consistency check (__post_init__); its keys made dotted
        names = "|".join(sorted(fields, key=len, reverse=True))
        message = re.sub(rf"\b({names})\b", lambda match: prefix + match.group(1), str(error))
        raise ConfigError(f"{source}: {message}") from error


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


def _check_generic(config: Config, source: str) -> None:
    """The consistency of ``data`` and ``training``, whatever the task."""
    video, betas = config.data.video, config.training.betas
    if video is not None:
        _check_video(video, config.data.synthetic is not None, source)
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
    if video.centre_crop_pixels is not None and video.centre_crop != 1.0:
        raise ConfigError(f"{source}: data.video: give centre_crop or centre_crop_pixels, not both")
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


def task_schema(raw: dict, source: str) -> TaskSchema:
    """The schema of the task ``raw`` names."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: top level: expected a mapping")
    if "task" not in raw:
        raise ConfigError(f"{source}: missing required key 'task'")
    if raw["task"] not in TASK_SCHEMAS:
        hint = "" if TASK_SCHEMAS.names() else " (no task is registered yet: import engine.tasks first)"
        raise ConfigError(f"{source}: task: {raw['task']!r} is not one of {list(TASK_SCHEMAS.names())}{hint}")
    return TASK_SCHEMAS[raw["task"]]


def _upgrade_keys(raw: dict, source: str) -> None:
    """Let each section move the keys of older configs to where they are now (in place; idempotent)."""
    for name, cls in SECTIONS.items():
        if isinstance(raw.get(name), dict) and hasattr(cls, "upgrade_keys"):
            try:
                cls.upgrade_keys(raw[name])
            except ValueError as error:
                raise ConfigError(f"{source}: {error}") from error


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read, override and validate the YAML config at ``path``."""
    config = config_from_dict(read_config_file(path, overrides), str(path))
    _check_data_files(config, str(path), {override.split("=", 1)[0].strip() for override in overrides})
    return config


def read_config_file(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """The YAML config at ``path`` as plain data: overridden, its old keys upgraded, resolved by its task
    (e.g. Sign2Text's keys from its upstream runs); not yet validated."""
    source = str(path)
    if not Path(path).is_file():
        raise ConfigError(f"config file not found: {source}")
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{source}: not valid YAML: {error}") from error
    for override in overrides:
        _apply_override(raw, override, source)
    schema = task_schema(raw, source)
    _upgrade_keys(raw, source)
    if schema.resolve is not None:
        schema.resolve(raw, source)
    return raw


def config_from_dict(raw: dict, source: str) -> Config:
    """A config from plain data (a checkpoint's, or parsed YAML), validated except that its files need not exist.

    A section another registered task reads is validated too, and left out (the configs of older
    runs hold every section).
    """
    schema = task_schema(raw, source)
    raw = copy.deepcopy(raw)
    _upgrade_keys(raw, source)
    known = {*GENERIC_SECTIONS, *SECTIONS}
    unknown = sorted(set(raw) - known)
    if unknown:
        own = [*GENERIC_SECTIONS, *schema.sections]
        raise ConfigError(f"{source}: unknown key '{unknown[0]}' (known keys: {', '.join(own)})")
    for name in ("data", "training"):
        if name not in raw:
            raise ConfigError(f"{source}: missing required key '{name}'")
    data = _build(DataConfig, raw["data"], "data.", source)
    training = _build(TrainingConfig, raw["training"], "training.", source)
    given = [name for name in SECTIONS if name in raw or name in schema.sections]
    sections = {name: _build(SECTIONS[name], raw.get(name, {}), f"{name}.", source) for name in given}
    config = Config(raw["task"], data, training, **{name: sections[name] for name in schema.sections})
    _check_generic(config, source)
    if schema.check is not None:
        schema.check(config, source)
    return config


def config_to_dict(config: Config) -> dict:
    """The config as plain data (for YAML dumps and checkpoints)."""
    sections = {name: dataclasses.asdict(section) for name, section in config.sections.items()}
    return {
        "task": config.task,
        "data": dataclasses.asdict(config.data),
        "training": dataclasses.asdict(config.training),
        **sections,
    }


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False), encoding="utf-8")
