"""The stage scorers: known-answer WER and its rates, the gloss clean-up, translation with and without WER."""

from __future__ import annotations

import pytest

from evaluation.scoring import score_recognition, score_translation


def test_recognition_scores_a_known_case():
    result = score_recognition("dev", ["a", "b"], ["A B", "C D"], ["A B C", "C"], "none", {"samples": 2})
    assert result.metrics == pytest.approx({"wer": 50.0, "sub": 0.0, "del": 25.0, "ins": 25.0})
    assert result.counts == {"samples": 2, "substitutions": 0, "deletions": 1, "insertions": 1, "reference glosses": 4}
    assert result.rows == [("a", "A B", "A B C"), ("b", "C D", "C")]


def test_recognition_applies_the_configured_cleanup_to_both_sides():
    hypotheses, references = ["__ON__ NORDRAUM REGEN"], ["NORD REGEN __OFF__"]
    assert score_recognition("dev", ["a"], hypotheses, references, "none", {}).metrics["wer"] > 0
    assert score_recognition("dev", ["a"], hypotheses, references, "phoenix-2014t", {}).metrics["wer"] == 0


def test_the_papers_scoring_upper_cases_its_lower_case_glosses_before_the_cleanup():
    """Its prediction.py scores ``.upper()`` of hypothesis and reference: "nordraum" is cleaned up as "NORDRAUM"."""
    hypotheses, references = ["__on__ nordraum regen"], ["NORD REGEN __OFF__"]
    assert score_recognition("dev", ["a"], hypotheses, references, "phoenix-2014t", {}).metrics["wer"] > 0
    result = score_recognition("dev", ["a"], hypotheses, references, "paper-phoenix-2014t", {})
    assert result.metrics["wer"] == 0 and result.rows == [("a", "NORD REGEN", "NORD REGEN")]


def test_translation_adds_the_recognition_wer_only_when_glosses_are_given():
    texts = ["the sun is shining today", "it rains"]
    plain = score_translation("test", ["a", "b"], texts, texts, "word", {"samples": 2})
    assert plain.metrics["bleu4"] == pytest.approx(100.0) and "wer" not in plain.metrics
    joint = score_translation("test", ["a", "b"], texts, texts, "word", {}, (["A B", "C"], ["A B", "D"]))
    assert joint.metrics["wer"] == pytest.approx(100 / 3) and "WER: CTC recognition" in joint.convention


def test_the_recognition_wer_beside_a_translation_applies_the_gloss_cleanup():
    texts, glosses = ["es regnet"], (["__ON__ NORDRAUM REGEN"], ["NORD REGEN __OFF__"])
    assert score_translation("test", ["a"], texts, texts, "word", {}, glosses).metrics["wer"] > 0
    cleaned = score_translation("test", ["a"], texts, texts, "word", {}, glosses, "phoenix-2014t")
    assert cleaned.metrics["wer"] == 0 and "cleanup: phoenix-2014t" in cleaned.convention
