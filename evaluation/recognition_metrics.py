"""Word error rate of gloss sequences, with the PHOENIX-2014T evaluation's gloss clean-up.

WER = (substitutions + deletions + insertions) / reference glosses, over the whole corpus, in
percent. The counts come from a minimum edit-distance alignment per sentence (ties prefer a
substitution over a deletion plus an insertion, as sclite does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby

MARKER = re.compile(r"^__[^_ ]*__$")  # __LEFTHAND__, __EPENTHESIS__, __EMOTION__, __ON__, ...
PLACE_SUFFIX = re.compile(r"^([A-Z]+)RAUM$")  # e.g. NORDRAUM -> NORD; a lone RAUM stays
SPELLED = re.compile(r"^(?:[A-Z]|SCH|NN)$")  # fingerspelled pieces


@dataclass
class ErrorCounts:
    """Edit operations between hypotheses and references, and the reference length."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(
            self.substitutions + other.substitutions,
            self.deletions + other.deletions,
            self.insertions + other.insertions,
            self.reference_length + other.reference_length,
        )

    @property
    def wer(self) -> float:
        errors = self.substitutions + self.deletions + self.insertions
        return 100.0 * errors / max(self.reference_length, 1)


def edit_counts(reference: list[str], hypothesis: list[str]) -> ErrorCounts:
    """Substitution, deletion and insertion counts of a minimum edit-distance alignment."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    # cost[i][j] = (edits, substitutions, deletions, insertions) aligning reference[:i] with hypothesis[:j]
    cost = [[(0, 0, 0, 0)] * cols for _ in range(rows)]
    for i in range(1, rows):
        cost[i][0] = (i, 0, i, 0)
    for j in range(1, cols):
        cost[0][j] = (j, 0, 0, j)
    for i in range(1, rows):
        for j in range(1, cols):
            e, s, d, n = cost[i - 1][j - 1]
            same = reference[i - 1] == hypothesis[j - 1]
            diagonal = (e, s, d, n) if same else (e + 1, s + 1, d, n)
            e, s, d, n = cost[i - 1][j]
            deletion = (e + 1, s, d + 1, n)
            e, s, d, n = cost[i][j - 1]
            insertion = (e + 1, s, d, n + 1)
            cost[i][j] = min(diagonal, deletion, insertion, key=lambda c: c[0])
    _, s, d, n = cost[-1][-1]
    return ErrorCounts(s, d, n, len(reference))


def corpus_wer(hypotheses: list[str], references: list[str]) -> ErrorCounts:
    """Summed edit counts over sentence pairs of space-separated glosses."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    total = ErrorCounts()
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        total += edit_counts(reference.split(), hypothesis.split())
    return total


def _normalise_token(token: str) -> str:
    for prefix in ("loc-", "cl-"):
        if token.startswith(prefix):
            token = token[len(prefix) :]
    token = token.removesuffix("-PLUSPLUS")
    match = PLACE_SUFFIX.match(token)
    return match.group(1) if match else token


def _join_spelling(tokens: list[str]) -> list[str]:
    """Join neighbouring fingerspelled pieces with '+' (at least one of each pair a single letter)."""
    joined: list[str] = []
    for token in tokens:
        if joined:
            last, first = joined[-1].split("+")[-1], token.split("+")[0]
            if SPELLED.match(last) and SPELLED.match(first) and min(len(last), len(first)) == 1:
                joined[-1] += "+" + token
                continue
        joined.append(token)
    return joined


def clean_phoenix_2014t(glosses: str) -> str:
    """The PHOENIX-2014T evaluation's clean-up of a gloss sequence before WER.

    - drops annotation markers written as ``__NAME__`` (``__LEFTHAND__``, ``__EPENTHESIS__``,
      ``__EMOTION__``, ...);
    - strips the ``loc-`` and ``cl-`` prefixes and the ``-PLUSPLUS`` suffix;
    - maps ``<PLACE>RAUM`` to ``<PLACE>`` (``NORDRAUM`` -> ``NORD``);
    - merges ``WIE AUSSEHEN`` into ``WIE-AUSSEHEN``;
    - joins fingerspelled letters (single letters, ``SCH``, ``NN``) with ``+`` (``A B C`` -> ``A+B+C``);
    - collapses immediate repetitions (``REGEN REGEN`` -> ``REGEN``).
    """
    tokens = [_normalise_token(t) for t in glosses.split() if not MARKER.match(t)]
    text = " ".join(t for t in tokens if t).replace("WIE AUSSEHEN", "WIE-AUSSEHEN")
    return " ".join(token for token, _ in groupby(_join_spelling(text.split())))
