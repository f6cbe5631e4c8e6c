"""Atomic checkpoint files: ``step_<N>.ckpt`` (the last K kept) and ``best.ckpt``.

Checkpoints are read with ``weights_only=True``: tensors, plain Python data and numpy arrays (the
numpy RNG state) load; any other pickled object is refused, so opening someone else's checkpoint
cannot run code.
"""

from __future__ import annotations

import _compat_pickle
import pickletools
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct

from core.atomic_files import copy_atomic, save_atomic
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from engine.task_protocol import Task

# what a numpy array (the numpy RNG state in "rng") needs to unpickle; none of these runs code
NUMPY_ARRAY_GLOBALS = [_reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


class CheckpointError(ToolkitError):
    """A checkpoint that is missing, unreadable or does not fit the model."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint (written by :func:`core.atomic_files.save_atomic`), with a clear error if that fails."""
    path = Path(path)
    state = read_weights_only(path, NUMPY_ARRAY_GLOBALS, "this toolkit's checkpoints never do")
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path}: not a checkpoint of this toolkit (no 'model' entry)")
    return state


def read_weights_only(path: str | Path, allowed: list, never: str) -> Any:
    """What ``torch.load`` reads from ``path`` with ``weights_only=True`` and the extra globals ``allowed``.

    Any other pickled object is refused with one error naming it (``never`` says whose files never
    hold one); nothing in the file runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(allowed), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's notes on foreign pickles: the error says it all
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        unsafe = _unsafe_globals(path, allowed)
        if unsafe:
            raise CheckpointError(
                f"{path}: refused: it carries pickled Python objects ({', '.join(unsafe[:3])}) besides tensors "
                f"and plain data, which could run code when loaded; {never}"
            ) from error
        reason = str(error).splitlines()[0]
        if reason.startswith("Weights only load failed"):  # torch's advice to load it unsafely: not ours to give
            reason = "it holds more than tensors and plain data"
        raise CheckpointError(f"{path}: not a readable checkpoint: {reason}") from error


def _unsafe_globals(path: Path, allowed: list) -> list[str]:
    """The objects in checkpoint ``path`` that a weights-only load with ``allowed`` refuses, whatever its format:
    torch's zip format, its legacy format or a plain pickle."""
    names = {g[1] if isinstance(g, tuple) else f"{g.__module__}.{g.__qualname__}" for g in allowed}
    names.add("collections.OrderedDict")
    if zipfile.is_zipfile(path):
        try:
            found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        except Exception:
            return []
    else:
        found = [name for name in _pickled_globals(path) if not name.startswith("torch.")]
    return [name for name in dict.fromkeys(found) if name not in names]


def _pickled_globals(path: Path) -> list[str]:
    """``module.name`` of each global that the pickles at the start of file ``path`` refer to (read, never run)."""
    names, strings = [], []
    with open(path, "rb") as stream:
        while True:  # torch's legacy format is several pickles in a row, then raw storage bytes
            try:
                for opcode, argument, _ in pickletools.genops(stream):
                    if opcode.name in ("GLOBAL", "INST"):  # protocol 2 spells Python 2's names (__builtin__)
                        module, name = argument.split(" ", 1)
                        names.append(f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}")
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        names.append(".".join(strings[-2:]))
                    if isinstance(argument, str):
                        strings.append(argument)
            except Exception:  # not (or no longer) a pickle
                return names


def latest_checkpoint(run: RunDirectory) -> Path:
    """The step checkpoint with the highest step, or an error naming the directory."""
    found = run.step_checkpoints()
    if not found:
        raise CheckpointError(f"no step_<N>.ckpt checkpoint to resume from in {run.root}")
    return found[-1]


def save_step_checkpoint(state: dict[str, Any], run: RunDirectory, step: int, keep_last: int) -> Path:
    """Write ``step_<step>.ckpt`` and delete all but the ``keep_last`` newest step checkpoints."""
    path = run.step_checkpoint(step)
    save_atomic(state, path)
    for old in run.step_checkpoints()[:-keep_last]:
        old.unlink()
    return path


def restore_best_checkpoint(run: RunDirectory, resumed: Path, state: dict[str, Any]) -> Path | None:
    """On resume, re-derive a missing ``best.ckpt``: copy the earliest kept checkpoint, up to the resumed
    one (``state``, read from ``resumed``), whose dev score is the run's best score; None where none is kept."""
    best, step = state.get("best_score"), state["step"]
    for path in dict.fromkeys([*run.step_checkpoints(), resumed]):  # oldest step first, resumed last
        candidate = state if path == resumed else load_checkpoint(path)
        if candidate["step"] <= step and candidate.get("score") is not None and candidate["score"] == best:
            copy_atomic(path, run.best_checkpoint)
            return path
    return None


def load_model_weights(model: torch.nn.Module, state: dict[str, Any], source: str | Path) -> None:
    """Load ``state['model']`` into ``model``, naming the checkpoint if keys or shapes differ."""
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as error:
        first_lines = "; ".join(str(error).splitlines()[:3])
        raise CheckpointError(f"{source}: does not fit this model's configuration: {first_lines}") from error


def load_submodule(module: torch.nn.Module, state: dict[str, Any], prefix: str, source: str | Path) -> None:
    """Load the weights under ``prefix`` (e.g. ``head.``) of checkpoint ``state`` into ``module``."""
    weights = {key[len(prefix) :]: value for key, value in state["model"].items() if key.startswith(prefix)}
    try:
        module.load_state_dict(weights)
    except RuntimeError as error:
        first_lines = "; ".join(str(error).splitlines()[:3])
        raise CheckpointError(f"{source}: its '{prefix}' weights do not fit this model: {first_lines}") from error


def load_task_checkpoint(path: str | Path, task: str, glosses: list[str] | None) -> dict[str, Any]:
    """The checkpoint at ``path``, which must come from ``task`` and use exactly the gloss vocabulary ``glosses``
    (any, if None)."""
    state = load_checkpoint(path)
    metadata = state.get("metadata", {})
    if metadata.get("task") != task:
        raise CheckpointError(f"{path}: not a {task} checkpoint (task {metadata.get('task')!r})")
    if glosses is None:
        return state
    theirs = metadata.get("glosses", [])
    if theirs != glosses:
        differing = next((i for i, (a, b) in enumerate(zip(theirs, glosses, strict=False)) if a != b), None)
        where = f"first difference at entry {differing}" if differing is not None else "one is a prefix of the other"
        raise CheckpointError(
            f"{path}: its gloss vocabulary ({len(theirs)} glosses) differs from this config's "
            f"tokenizer.gloss_vocab ({len(glosses)} glosses; {where})"
        )
    return state


def load_matching_model(task: Task, state: dict, ckpt: str | Path, model: nn.Module | None = None) -> nn.Module:
    """``task``'s model (built unless given) with the weights of checkpoint ``state``, after checking it fits."""
    expected = task.checkpoint_metadata()
    if state.get("metadata") != expected:
        differing = sorted(k for k in expected if state.get("metadata", {}).get(k) != expected[k])
        raise ToolkitError(
            f"{ckpt}: checkpoint does not match this config's task/vocabularies (differs in {differing})"
        )
    model = model or task.build_model()
    load_model_weights(model, state, ckpt)
    return model
