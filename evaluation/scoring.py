"""The scorers of the stages: hypotheses and references in, an :class:`EvaluationResult` out.

Recognition is scored by WER (with the configured gloss clean-up), translation by BLEU-1..4 and
ROUGE-L, and Sign2Text by both (the WER of its CTC branch beside the translation scores).
"""

from __future__ import annotations

from collections.abc import Callable

from evaluation.recognition_metrics import clean_phoenix_2014t, corpus_wer
from evaluation.report import EvaluationResult
from evaluation.translation_metrics import CONVENTION as TRANSLATION_CONVENTION
from evaluation.translation_metrics import translation_scores

CLEANUPS: dict[str, Callable[[str], str]] = {
    "none": lambda glosses: glosses,
    "phoenix-2014t": clean_phoenix_2014t,
    # the paper's prediction.py: its lower-case glosses upper-cased, then the clean-up (whose patterns then
    # miss the lower-case prefixes such as "loc-", as its do)
    "paper-phoenix-2014t": lambda glosses: clean_phoenix_2014t(glosses.upper()),
}
RECOGNITION_CONVENTION = "corpus WER over space-separated glosses (minimum edit distance), in percent; cleanup: {}"


def score_recognition(
    split: str, names: list[str], hypotheses: list[str], references: list[str], cleanup: str, counts: dict
) -> EvaluationResult:
    """WER with its substitution, deletion and insertion rates; the error counts join ``counts``."""
    clean = CLEANUPS[cleanup]
    references, hypotheses = [clean(r) for r in references], [clean(h) for h in hypotheses]
    errors = corpus_wer(hypotheses, references)
    total = max(errors.reference_length, 1)
    metrics = {
        "wer": errors.wer,
        "sub": 100.0 * errors.substitutions / total,
        "del": 100.0 * errors.deletions / total,
        "ins": 100.0 * errors.insertions / total,
    }
    error_counts = {
        "substitutions": errors.substitutions,
        "deletions": errors.deletions,
        "insertions": errors.insertions,
        "reference glosses": errors.reference_length,
    }
    rows = list(zip(names, hypotheses, references, strict=True))
    return EvaluationResult(split, metrics, rows, {**counts, **error_counts}, RECOGNITION_CONVENTION.format(cleanup))


def score_translation(
    split: str,
    names: list[str],
    hypotheses: list[str],
    references: list[str],
    level: str,
    counts: dict,
    glosses: tuple[list[str], list[str]] | None = None,
    cleanup: str = "none",
) -> EvaluationResult:
    """BLEU-1..4 and ROUGE-L; with ``glosses`` (hypotheses, references) also the WER of the recognised
    glosses, after the gloss ``cleanup`` as in :func:`score_recognition`."""
    metrics = translation_scores(hypotheses, references, level)
    convention = TRANSLATION_CONVENTION
    if glosses is not None:
        clean = CLEANUPS[cleanup]
        metrics["wer"] = corpus_wer(*([clean(g) for g in side] for side in glosses)).wer
        convention += f"; WER: CTC recognition, cleanup: {cleanup}"
    rows = list(zip(names, hypotheses, references, strict=True))
    return EvaluationResult(split, metrics, rows, dict(counts), convention)
