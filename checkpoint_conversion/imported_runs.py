"""A run directory from converted weights: config, vocabularies, ``best.ckpt`` with the metadata a trained run has.

The run is written into ``<output>.partial`` and renamed into place once complete; on any error the
partial folder is removed, so a failed import leaves nothing behind. The network is built by the
config's task, as ``prediction.py`` builds it, and must take every converted tensor at its shape
(:func:`~checkpoint_conversion.slrt_weights.load_exactly`); the checkpoint then holds the task's
own state dict and metadata, so every command loads it as it loads a run it trained.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from checkpoint_conversion.foreign_files import ForeignFileError
from checkpoint_conversion.slrt_weights import load_exactly
from core.atomic_files import save_atomic
from core.config import Config, ConfigError, config_from_dict, config_to_dict
from core.run_directory import RunDirectory
from engine.distributed import setup_distributed
from engine.tasks.registry import build_task


@dataclass
class ImportedRun:
    """What a converter hands over: the run's config (plain data), its weights in our names, their origin."""

    config: dict
    weights: dict[str, torch.Tensor]
    # the gloss vocabulary and text tokenizer into the run (those the config names are there already)
    write_vocabularies: Callable[[RunDirectory, Config], None]
    spare: tuple[str, ...] = ()  # converted names the network may lack (tied aliases)
    training_state: dict[str, Any] = field(default_factory=dict)  # step, epoch, best_score of the foreign run
    imported_from: dict[str, Any] = field(default_factory=dict)  # the format and file, recorded in best.ckpt


def set_architecture(raw: dict, key: str, value: Any, source: str) -> None:
    """Set the dotted ``key`` of config ``raw`` to what the foreign files say; a config saying otherwise is an error."""
    *sections, name = key.split(".")
    node = raw
    for section in sections:
        node = node.setdefault(section, {})
    if node.get(name, value) != value:
        raise ConfigError(f"{source}: {key}: {node[name]!r} in the config, {value!r} in the files imported")
    node[name] = value


def write_run(run: ImportedRun, output: Path, source: str) -> Path:
    """Write ``run`` as the run directory ``output``, which must not exist yet; return it."""
    if output.exists():
        raise ForeignFileError(f"{output} exists: choose a new directory for the imported run")
    partial = output.with_name(output.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _write(run, partial, output, source)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    partial.rename(output)
    return output


def _write(run: ImportedRun, partial: Path, output: Path, source: str) -> None:
    raw = copy.deepcopy(run.config)
    raw.setdefault("training", {})["model_dir"] = str(partial)
    config = config_from_dict(raw, source)
    folder = RunDirectory(partial)
    run.write_vocabularies(folder, config)
    task = build_task(config, setup_distributed("cpu"))
    task.prepare(create=False)
    model = task.build_model()
    load_exactly(model, run.weights, source, run.spare)
    final = config_to_dict(config.replace(training=replace(config.training, model_dir=str(output))))
    folder.config.write_text(yaml.safe_dump(final, sort_keys=False, allow_unicode=True), encoding="utf-8")
    state = {"step": 0, "epoch": 0, "best_score": None, **run.training_state}
    save_atomic(
        {
            **state,
            "validated": True,
            "score": state["best_score"],
            "model": model.state_dict(),
            "config": final,
            "metadata": task.checkpoint_metadata(),
            "imported_from": run.imported_from,
        },
        folder.best_checkpoint,
    )
