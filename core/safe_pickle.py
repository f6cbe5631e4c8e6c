"""Reading pickles that other codebases wrote without running anything in them.

:func:`read_pickle` unpickles with an allowlist of globals: none gives Python's own containers and
scalars only (a vocabulary: strings to ids); :data:`NUMPY_ARRAYS` adds what numpy arrays and
scalars are made of (a keypoint file), under numpy 1's module names and numpy 2's. Any other
object in the file is refused by name, before it is built. Gzip-compressed pickles are read too.
"""

from __future__ import annotations

import gzip
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import ToolkitError

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar

NUMPY_ARRAYS = {
    **{(f"numpy.{core}.multiarray", "_reconstruct"): _reconstruct for core in ("core", "_core")},
    **{(f"numpy.{core}.multiarray", "scalar"): scalar for core in ("core", "_core")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class UnsafePickleError(ToolkitError):
    """A pickle that is missing, unreadable, or holds an object outside its allowlist."""


class _AllowlistUnpickler(pickle.Unpickler):
    def __init__(self, stream, allowed: dict[tuple[str, str], Any]) -> None:
        super().__init__(stream)
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise pickle.UnpicklingError(f"it pickles the Python object {module}.{name}")


def read_pickle(path: str | Path, what: str, allowed: dict[tuple[str, str], Any] | None = None) -> Any:
    """The data pickled (and perhaps gzipped) in ``path``, building only ``allowed`` globals; ``what`` names it."""
    path = Path(path)
    if not path.is_file():
        raise UnsafePickleError(f"{what} not found: {path}")
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise UnsafePickleError(f"{path}: not a readable gzip file of {what}: {error}") from error
    try:
        return _AllowlistUnpickler(io.BytesIO(data), allowed or {}).load()
    except Exception as error:
        raise UnsafePickleError(f"{path}: not a plain pickle of {what}: {error}") from error
