"""A Sign2Text config filled from its upstream runs (``s2t.s2g_run``, ``s2t.g2t_run``): architecture, vocabularies.

Each upstream run's saved config gives the keys that size the network (the fields marked
``architecture``, and the ``type`` of a registered part such as the encoder); an architecture key
the S2T config restates must agree. Training choices (dropout, freezing, beam size, ...) stay the
S2T config's own, and so does a vocabulary or checkpoint it names.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from core.config import Config, ConfigError, config_from_dict
from core.run_directory import RunDirectory
from modelling.tokenizers import TokenizerConfig


@dataclasses.dataclass(frozen=True)
class Upstream:
    """What an S2T config takes from one upstream run: the run's task, the section, its tokenizer entries."""

    task: str
    section: str
    tokenizer_of: Callable[[Config, RunDirectory], TokenizerConfig]


def _saved_config(run: RunDirectory, key: str, task: str, source: str) -> Config:
    """The resolved config an upstream run saved, validated and checked to be of ``task``."""
    if not run.config.is_file():
        raise ConfigError(f"{source}: {key}: {run.root} holds no {run.config.name} (train that run first)")
    saved = config_from_dict(yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}, str(run.config))
    if saved.task != task:
        raise ConfigError(f"{source}: {key}: {run.root} is a '{saved.task}' run, not '{task}'")
    return saved


def _inherit(own: dict, saved: Any, path: str, origin: tuple[str, str], source: str) -> None:
    """Copy the architecture keys of dataclass ``saved`` (a section of the upstream config) into ``own``."""
    for spec in dataclasses.fields(saved):
        value, key = getattr(saved, spec.name), f"{path}.{spec.name}"
        if "registry" in spec.metadata:  # a registered part: its type and its own architecture keys
            part = own.setdefault(spec.name, {})
            _agree(part, "type", value.type, f"{key}.type", origin, source)
            _inherit(part, value, key, origin, source)
        elif spec.metadata.get("architecture"):
            _agree(own, spec.name, value, key, origin, source)


def _agree(own: dict, name: str, inherited: Any, key: str, origin: tuple[str, str], source: str) -> None:
    if name in own and own[name] != inherited:
        raise ConfigError(
            f"{source}: {key}: {own[name]!r} differs from the {origin[0]} run's {inherited!r} ({origin[1]}); "
            "leave it out, it comes from that run"
        )
    own[name] = inherited


def inherit_from_upstream_runs(raw: dict, source: str, upstreams: dict[str, Upstream]) -> None:
    """Fill raw S2T config ``raw`` from the runs its ``s2t`` section names (``upstreams``: by key, e.g. ``s2g_run``)."""
    s2t = raw.get("s2t") if isinstance(raw.get("s2t"), dict) else {}
    for key, upstream in upstreams.items():
        if s2t.get(key) is None:
            continue
        run = RunDirectory(Path(str(s2t[key])))
        saved = _saved_config(run, f"s2t.{key}", upstream.task, source)
        origin = (upstream.task, f"s2t.{key}: {run.root}")
        own = raw.setdefault(upstream.section, {})
        _inherit(own, getattr(saved, upstream.section), upstream.section, origin, source)
        defaults = dataclasses.asdict(TokenizerConfig())
        given = dataclasses.asdict(upstream.tokenizer_of(saved, run))
        for name in (name for name, value in given.items() if value != defaults[name]):
            raw.setdefault("tokenizer", {}).setdefault(name, given[name])
        s2t.setdefault(f"{upstream.task}_checkpoint", str(run.best_checkpoint))
