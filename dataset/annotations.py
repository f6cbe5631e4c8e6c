"""Annotation readers: the gzip-pickled list-of-dicts releases and the official PHOENIX-2014-T CSV.

Both produce :class:`Sample` records. :func:`prepare_samples` then normalises text (case, word or
character level) and separates usable samples from empty or malformed ones, with a reason for each.
"""

from __future__ import annotations

import csv
import gzip
import pickle
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

from core.errors import ToolkitError

PICKLE_KEYS = ("name", "gloss", "text")
CSV_HEADER = ("name", "video", "start", "end", "speaker", "orth", "translation")


class AnnotationError(ToolkitError):
    """An annotation file that cannot be read, with the file in the message."""


@dataclass(frozen=True)
class Sample:
    """One annotated sentence: its gloss sequence and spoken-language text."""

    name: str
    gloss: str
    text: str
    signer: str = ""
    num_frames: int | None = None
    video: str | None = None


def _read_pickle(path: Path) -> list[Sample]:
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as handle:
            records = pickle.load(handle)
    except Exception as error:
        raise AnnotationError(f"{path}: not a readable (gzip-)pickled annotation file: {error}") from error
    if not isinstance(records, list):
        raise AnnotationError(f"{path}: expected a list of dicts, got {type(records).__name__}")
    samples = []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or any(key not in record for key in PICKLE_KEYS):
            raise AnnotationError(f"{path}: record {index} lacks the keys {list(PICKLE_KEYS)}")
        samples.append(
            Sample(
                name=str(record["name"]),
                gloss=str(record["gloss"] or ""),
                text=str(record["text"] or ""),
                signer=str(record.get("signer", "")),
                num_frames=record.get("num_frames"),
                video=record.get("video"),
            )
        )
    return samples


def _read_phoenix_csv(path: Path) -> list[Sample]:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="|", quoting=csv.QUOTE_NONE))
    if not rows or tuple(column.strip() for column in rows[0]) != CSV_HEADER:
        raise AnnotationError(f"{path}: expected the header {'|'.join(CSV_HEADER)}")
    samples = []
    for line_number, row in enumerate(rows[1:], start=2):
        if len(row) != len(CSV_HEADER):
            raise AnnotationError(f"{path}: line {line_number} has {len(row)} fields, expected 7")
        record = dict(zip(CSV_HEADER, row, strict=False))
        samples.append(
            Sample(
                name=record["name"],
                gloss=record["orth"],
                text=record["translation"],
                signer=record["speaker"],
                video=record["video"],
            )
        )
    return samples


def read_annotations(path: str | Path, fmt: str = "pickle") -> list[Sample]:
    """Read every sample of an annotation file in format ``pickle`` or ``phoenix_csv``."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError(f"annotation file not found: {path}")
    readers = {"pickle": _read_pickle, "phoenix_csv": _read_phoenix_csv}
    if fmt not in readers:
        raise AnnotationError(f"{path}: unknown annotation format '{fmt}'")
    return readers[fmt](path)


def normalise_text(text: str, level: str, lowercase: bool) -> str:
    """Whitespace-normalised text; at ``char`` level, one space between non-space characters."""
    text = text.lower() if lowercase else text
    if level == "char":
        return " ".join(ch for ch in text if not ch.isspace())
    return " ".join(text.split())


@dataclass
class PreparedSplit:
    """The samples of one split that can be used, and why the others cannot."""

    samples: list[Sample]
    skipped: Counter
    skipped_names: list[str]


def prepare_samples(
    samples: list[Sample], level: str, lowercase: bool, lowercase_glosses: bool = False
) -> PreparedSplit:
    """Normalise text (and glosses: whitespace, and case if ``lowercase_glosses``); set aside empty ones."""
    kept, skipped, names = [], Counter(), []
    for sample in samples:
        gloss = " ".join((sample.gloss.lower() if lowercase_glosses else sample.gloss).split())
        text = normalise_text(sample.text, level, lowercase)
        reason = "empty gloss" if not gloss else "empty text" if not text else None
        if reason:
            skipped[reason] += 1
            names.append(sample.name)
            continue
        kept.append(replace(sample, gloss=gloss, text=text))
    return PreparedSplit(kept, skipped, names)
