"""Per-split stores of S3D features (``T'×C`` per sample), written by extract_feature.py, read by S2T training.

While extraction runs, each rank writes its finished samples as part files under
``<dir>/<split>.parts/`` (atomically, every few samples), so an interrupted job resumes by skipping
what the parts hold. When every rank is done, rank 0 merges the parts into ``<dir>/<split>.pt``:
``{"features": {name: tensor}, "skipped": {name: reason}, "metadata": {...}}``.
"""

from __future__ import annotations

import itertools
import os
import shutil
from pathlib import Path

import torch

from core.atomic_files import save_atomic
from core.errors import ToolkitError


class FeatureStoreError(ToolkitError):
    """A feature store that is missing, unreadable or does not fit."""


def store_path(directory: str | Path, split: str) -> Path:
    return Path(directory) / f"{split}.pt"


def parts_dir(directory: str | Path, split: str) -> Path:
    return Path(directory) / f"{split}.parts"


def _read(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FeatureStoreError(f"{path}: not a readable feature file: {error}") from error


def finished_names(directory: str | Path, split: str) -> set[str]:
    """Names already extracted (or skipped) by earlier runs of an unfinished split."""
    names: set[str] = set()
    for part in sorted(parts_dir(directory, split).glob("*.pt")):
        content = _read(part)
        names |= set(content["features"]) | set(content["skipped"])
    return names


def write_part(
    directory: str | Path, split: str, rank: int, features: dict[str, torch.Tensor], skipped: dict[str, str]
) -> None:
    """Save one batch of finished samples of ``rank`` (never overwriting an earlier part)."""
    folder = parts_dir(directory, split)
    folder.mkdir(parents=True, exist_ok=True)
    for index in itertools.count():
        path = folder / f"rank{rank}-{os.getpid()}-{index}.pt"
        if not path.exists():
            save_atomic({"features": features, "skipped": skipped}, path)
            return


def merge_parts(directory: str | Path, split: str, metadata: dict) -> dict:
    """Merge the parts of ``split`` into its store (atomically), remove them, return the store."""
    store = {"features": {}, "skipped": {}, "metadata": metadata}
    for part in sorted(parts_dir(directory, split).glob("*.pt")):
        content = _read(part)
        store["features"].update(content["features"])
        store["skipped"].update(content["skipped"])
    save_atomic(store, store_path(directory, split))
    shutil.rmtree(parts_dir(directory, split), ignore_errors=True)
    return store


def load_store(directory: str | Path, split: str) -> dict:
    """The merged store of ``split``, with a clear error when it is absent or unreadable."""
    path = store_path(directory, split)
    if not path.is_file():
        hint = " (unfinished: run extract_feature.py again)" if parts_dir(directory, split).is_dir() else ""
        raise FeatureStoreError(f"feature store not found: {path}{hint}")
    store = _read(path)
    if not {"features", "skipped", "metadata"} <= set(store):
        raise FeatureStoreError(f"{path}: not a feature store (keys {sorted(store)})")
    return store
