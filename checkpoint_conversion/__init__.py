"""Foreign checkpoints in: converters from other codebases' released files to ordinary run directories.

Each foreign format has its module here and registers its converter under a name
(``import_checkpoint.py --format NAME``), as Hugging Face keeps one ``convert_*_checkpoint.py`` per
source. A converter reads the foreign files without running anything in them
(:mod:`checkpoint_conversion.foreign_files`), maps their vocabularies and weights to this toolkit's,
and writes run directories (:mod:`checkpoint_conversion.imported_runs`) that ``prediction.py``,
``translate.py``, ``serve.py`` and ``export.py`` use as they use a run they trained; this toolkit's
own checkpoint loaders stay strict.
"""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from pathlib import Path
from typing import Protocol

from core.registry import Registry


class Converter(Protocol):
    """A foreign format's converter: its command-line options and the conversion itself."""

    @staticmethod
    def add_arguments(parser: ArgumentParser) -> None: ...

    @staticmethod
    def convert(args: Namespace) -> Path:
        """Write the run directory ``args.output`` from the files ``args`` names; return it."""
        ...


CONVERTERS: Registry[type[Converter]] = Registry("checkpoint format")
register_converter = CONVERTERS.register

# the built-in converters register themselves on import
from checkpoint_conversion import slrt_single_stream, slrt_two_stream  # noqa: E402, F401
