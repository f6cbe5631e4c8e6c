"""Reading another codebase's files without running them: plain pickles and weights-only checkpoints.

A plain pickle (a vocabulary: strings to ids) is read by an unpickler that refuses every global
(:mod:`core.safe_pickle`), so only Python's own containers and scalars come out. A checkpoint is
read by ``torch.load`` with ``weights_only=True``, allowing besides tensors only numpy scalars (a
training loop's best score is often one), under numpy 1's module names and numpy 2's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ToolkitError
from core.safe_pickle import UnsafePickleError, read_pickle
from engine.checkpoint import read_weights_only

try:  # numpy >= 2
    from numpy._core.multiarray import scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import scalar

SCALAR_DTYPES = [type(np.dtype(kind)) for kind in (np.float64, np.float32, np.int64, np.int32, np.bool_)]
NUMPY_SCALAR_GLOBALS = [
    scalar,
    (scalar, "numpy.core.multiarray.scalar"),
    (scalar, "numpy._core.multiarray.scalar"),
    np.dtype,
    *SCALAR_DTYPES,
]


class ForeignFileError(ToolkitError):
    """A foreign file that is missing, unreadable, refused or not what its converter expects."""


def read_plain_pickle(path: str | Path, what: str) -> Any:
    """The plain data (dicts, lists, strings, numbers) pickled in ``path``; ``what`` names it in errors."""
    try:
        return read_pickle(path, what)
    except UnsafePickleError as error:
        raise ForeignFileError(str(error)) from error


def read_foreign_checkpoint(path: str | Path, source: str) -> dict[str, Any]:
    """A foreign checkpoint's dict (tensors, plain data, numpy scalars); ``source`` names the format in errors."""
    state = read_weights_only(path, NUMPY_SCALAR_GLOBALS, f"{source} checkpoints hold only tensors and plain data")
    if not isinstance(state, dict):
        raise ForeignFileError(f"{path}: not a {source} checkpoint (a {type(state).__name__}, not a dict)")
    return state
