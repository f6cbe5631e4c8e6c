"""Writing files atomically: a crash or a kill never leaves half a file at the destination."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

# the temporary files of save_atomic: "." + the destination's name + "." + mkstemp's 8 characters + ".tmp"
TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")


def save_atomic(state: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` ``state`` to ``path`` via a temporary file in the same folder, then a rename.

    A kill between the two leaves the temporary file behind (a hidden ``.<name>.XXXXXXXX.tmp``);
    :func:`remove_stale_temporaries` clears them.
    """
    _write_atomic(path, lambda stream: torch.save(state, stream))


def copy_atomic(source: str | Path, path: str | Path) -> None:
    """Copy the file ``source`` to ``path`` the same way: ``path`` is the old file or the whole copy."""
    with open(source, "rb") as original:
        _write_atomic(path, lambda stream: shutil.copyfileobj(original, stream))


def _write_atomic(path: str | Path, write) -> None:
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete the temporary files that interrupted :func:`save_atomic` calls left in ``directory``; return them."""
    found = [p for p in Path(directory).glob(".*.tmp") if TEMPORARY.match(p.name) and p.is_file()]
    for path in found:
        path.unlink(missing_ok=True)
    return found
