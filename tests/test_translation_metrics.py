import pytest

from evaluation.translation_metrics import bleu_scores, rouge_l, translation_scores


def test_identical_corpus_scores_100():
    refs = ["der wind weht stark", "morgen regnet es im süden"]
    scores = translation_scores(refs, refs)
    assert all(v == pytest.approx(100.0) for v in scores.values())


def test_bleu_known_answer():
    # hypothesis "a b c d e" vs reference "a b x d e": 1-grams 4/5, 2-grams 2/4, 3-grams 0/3
    hyp, ref = ["a b c d e"], ["a b x d e"]
    scores = bleu_scores(hyp, ref)
    assert scores["bleu1"] == pytest.approx(80.0)
    assert scores["bleu2"] == pytest.approx(100 * (0.8 * 0.5) ** 0.5)
    assert scores["bleu3"] == pytest.approx(0.0)  # no smoothing: a zero precision gives zero


def test_bleu_brevity_penalty_and_no_retokenisation():
    import math

    scores = bleu_scores(["a b"], ["a b c d"])
    assert scores["bleu1"] == pytest.approx(100 * math.exp(1 - 4 / 2))
    # "'s" stays one token because the text is not tokenised again
    assert bleu_scores(["x 's"], ["x 's"])["bleu2"] == pytest.approx(100.0)


def test_rouge_l_known_answer_with_beta_1_2():
    # LCS("a b c d", "a c d e f") = 3: precision 3/5, recall 3/4
    p, r, beta2 = 3 / 5, 3 / 4, 1.2**2
    expected = 100 * (1 + beta2) * p * r / (r + beta2 * p)
    assert rouge_l(["a c d e f"], ["a b c d"]) == pytest.approx(expected)
    assert rouge_l(["", "a"], ["a", "a"]) == pytest.approx(50.0)


def test_rouge_keeps_umlauts_and_chinese():
    assert rouge_l(["schöne grüße"], ["schöne grüße"]) == pytest.approx(100.0)
    assert rouge_l(["schöne wetter"], ["schöne grüße"]) == pytest.approx(50.0)


def test_character_level_scores_characters():
    word = translation_scores(["我们 今天"], ["我们 明天"], level="word")
    char = translation_scores(["我们今天"], ["我们明天"], level="char")
    assert word["bleu1"] == pytest.approx(50.0)
    assert char["bleu1"] == pytest.approx(75.0)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="2 hypotheses but 1 references"):
        translation_scores(["a", "b"], ["a"])
