"""A run directory left as it was, byte for byte, when a run fails to start.

Starting a run writes its config, log, vocabularies, tokenizer and TensorBoard folder before the
checkpoint to resume is read and the model is built; whatever fails in between (a truncated or
foreign checkpoint, a model that does not fit it) must not leave a run whose ``config.yaml`` says
what its checkpoints were not trained with, nor a half-made directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.run_directory import RunDirectory


def _copied(run: RunDirectory, path: Path) -> bool:
    """Whether ``path`` is a file a start may write: not a checkpoint, feature store, prediction or export
    (which starting a run never writes, and which may be large)."""
    large = (run.features, run.predictions.root, run.onnx)
    return path.is_file() and not run.is_checkpoint(path) and not any(path.is_relative_to(f) for f in large)


@contextmanager
def restored_on_failure(run: RunDirectory, enabled: bool = True) -> Iterator[None]:
    """Run the block; if it raises, put ``run`` back as it was: what the block created is removed, the
    files it changed get their bytes back (a run directory that did not exist is removed whole)."""
    if not enabled:
        yield
        return
    root = run.root
    existed = root.is_dir()
    files = {p: p.read_bytes() for p in root.rglob("*") if _copied(run, p)} if existed else {}
    folders = {p for p in root.rglob("*") if p.is_dir()} if existed else set()
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
            raise
        for path in [p for p in root.rglob("*") if _copied(run, p) and p not in files]:
            path.unlink()
        for path, content in files.items():
            if not path.is_file() or path.read_bytes() != content:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
        for path in sorted((p for p in root.rglob("*") if p.is_dir() and p not in folders), reverse=True):
            shutil.rmtree(path, ignore_errors=True)
        raise
