"""BLEU-1..4 and ROUGE-L under the sign language translation field's scoring convention.

- BLEU-n: sacrebleu corpus BLEU with maximum n-gram order n, on the already tokenised text
  (``tokenize='none'``), no smoothing, no lowercasing.
- ROUGE-L: mean over sentences of the LCS F-measure with beta = 1.2, from rouge-score's
  per-sentence LCS precision and recall, tokenised on whitespace (rouge-score's default tokenizer
  would drop non-ASCII letters such as umlauts and Chinese characters).
- Character level (e.g. CSL-Daily): hypotheses and references are split into characters first.
All scores are on the 0-100 scale.
"""

from __future__ import annotations

from rouge_score import rouge_scorer, tokenizers
from sacrebleu.metrics import BLEU

ROUGE_BETA = 1.2
CONVENTION = (
    "BLEU-n: sacrebleu corpus BLEU, max n-gram order n, tokenize='none', no smoothing; "
    "ROUGE-L: sentence-mean LCS F-measure (beta=1.2, whitespace tokens); scale 0-100"
)


class WhitespaceTokenizer(tokenizers.Tokenizer):
    """Split on whitespace and keep every token as is."""

    def tokenize(self, text: str) -> list[str]:
        return text.split()


def to_characters(text: str) -> str:
    """Characters separated by single spaces (whitespace dropped)."""
    return " ".join(ch for ch in text if not ch.isspace())


def bleu_scores(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU-1..4 (``bleu1`` .. ``bleu4``)."""
    scores = {}
    for order in range(1, 5):
        bleu = BLEU(tokenize="none", smooth_method="none", max_ngram_order=order, force=True)
        scores[f"bleu{order}"] = bleu.corpus_score(hypotheses, [references]).score
    return scores


def rouge_l(hypotheses: list[str], references: list[str]) -> float:
    """Mean sentence-level ROUGE-L F-measure with beta = 1.2."""
    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=WhitespaceTokenizer())
    total = 0.0
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        lcs = scorer.score(reference, hypothesis)["rougeL"]
        denominator = lcs.recall + ROUGE_BETA**2 * lcs.precision
        if denominator > 0:
            total += (1 + ROUGE_BETA**2) * lcs.precision * lcs.recall / denominator
    return 100.0 * total / max(len(hypotheses), 1)


def translation_scores(hypotheses: list[str], references: list[str], level: str = "word") -> dict[str, float]:
    """BLEU-1..4 and ROUGE-L (``rouge_l``) of ``hypotheses`` against ``references``."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if level == "char":
        hypotheses = [to_characters(h) for h in hypotheses]
        references = [to_characters(r) for r in references]
    return {**bleu_scores(hypotheses, references), "rouge_l": rouge_l(hypotheses, references)}
