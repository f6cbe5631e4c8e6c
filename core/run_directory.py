"""The layout of a run's ``training.model_dir``: every file a run writes and a later stage reads.

No other module spells these names: stages find each other's outputs (the gloss vocabulary, the
best checkpoint, the features, the report) through :class:`RunDirectory`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.vocabulary import GLOSS_VOCAB_FILE

if TYPE_CHECKING:  # the config reads upstream runs through this module
    from core.config import Config

STEP_PATTERN = re.compile(r"^step_(\d+)\.ckpt$")


@dataclass(frozen=True)
class PredictionFiles:
    """Where prediction writes its report and hypotheses (a run's ``predictions/`` or a folder the user names)."""

    root: Path

    @property
    def report(self) -> Path:
        return self.root / "report.json"

    def hypotheses(self, split: str) -> Path:
        return self.root / f"{split}.hyp.tsv"


@dataclass(frozen=True)
class _VocabularyFiles:
    """Where a folder keeps the gloss vocabulary and the text tokenizer (a run, or an export of one)."""

    root: Path

    @property
    def gloss_vocab(self) -> Path:
        return self.root / GLOSS_VOCAB_FILE

    @property
    def text_tokenizer(self) -> Path:
        return self.root / "text_tokenizer"


@dataclass(frozen=True)
class RunDirectory(_VocabularyFiles):
    """One run's folder: resolved config, log, TensorBoard, vocabularies, checkpoints, predictions, features."""

    @classmethod
    def of(cls, config: Config) -> RunDirectory:
        """The run directory that ``config`` trains into (``training.model_dir``)."""
        return cls(Path(config.training.model_dir))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def log(self) -> Path:
        return self.root / "train.log"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def best_checkpoint(self) -> Path:
        return self.root / "best.ckpt"

    def step_checkpoint(self, step: int) -> Path:
        return self.root / f"step_{step}.ckpt"

    def is_checkpoint(self, path: Path) -> bool:
        """Whether ``path`` is one of this run's checkpoints (``best.ckpt`` or a ``step_<N>.ckpt``)."""
        return path == self.best_checkpoint or (path.parent == self.root and bool(STEP_PATTERN.match(path.name)))

    def step_checkpoints(self) -> list[Path]:
        """The ``step_<N>.ckpt`` files, oldest step first."""
        found = [(int(m.group(1)), p) for p in self.root.glob("step_*.ckpt") if (m := STEP_PATTERN.match(p.name))]
        return [path for _, path in sorted(found)]

    @property
    def predictions(self) -> PredictionFiles:
        return PredictionFiles(self.root / "predictions")

    @property
    def features(self) -> Path:
        """The folder of the feature stores ``extract_feature.py`` writes (one ``<split>.pt`` each)."""
        return self.root / "features"

    @property
    def onnx(self) -> Path:
        """Where ``export.py`` writes the run's ONNX export by default (an :class:`ExportDirectory`)."""
        return self.root / "onnx"


@dataclass(frozen=True)
class ExportDirectory(_VocabularyFiles):
    """An ONNX export: the three networks, the vocabularies and the settings to run them without the run."""

    def graph(self, name: str) -> Path:
        """``recognition``, ``encoder`` or ``decoder``."""
        return self.root / f"{name}.onnx"

    @property
    def settings(self) -> Path:
        return self.root / "export.json"
