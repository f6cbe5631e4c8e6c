import pytest

from evaluation.recognition_metrics import ErrorCounts, clean_phoenix_2014t, corpus_wer, edit_counts


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("A B C", "A B C", ErrorCounts(0, 0, 0, 3)),
        ("A B C", "A X C", ErrorCounts(1, 0, 0, 3)),
        ("A B C", "A C", ErrorCounts(0, 1, 0, 3)),
        ("A B C", "A B C D", ErrorCounts(0, 0, 1, 3)),
        ("A B C D", "X A B D", ErrorCounts(0, 1, 1, 4)),
        ("A B", "", ErrorCounts(0, 2, 0, 2)),
        ("", "A", ErrorCounts(0, 0, 1, 0)),
    ],
)
def test_edit_counts_known_answers(reference, hypothesis, expected):
    assert edit_counts(reference.split(), hypothesis.split()) == expected


def test_corpus_wer_sums_before_dividing():
    counts = corpus_wer(["A X C", "D"], ["A B C", "D E F G"])
    assert counts == ErrorCounts(1, 3, 0, 7)
    assert counts.wer == pytest.approx(100 * 4 / 7)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("__ON__ REGEN __LEFTHAND__ MORGEN __OFF__", "REGEN MORGEN"),
        ("loc-NORD cl-KOMMEN SONNE-PLUSPLUS", "NORD KOMMEN SONNE"),
        ("NORDRAUM RAUM", "NORD RAUM"),
        ("HEUTE WIE AUSSEHEN", "HEUTE WIE-AUSSEHEN"),
        ("A B C WETTER", "A+B+C WETTER"),
        ("SCH N E E", "SCH+N+E+E"),
        ("REGEN REGEN __EMOTION__ REGEN SONNE", "REGEN SONNE"),
    ],
)
def test_phoenix_cleanup(raw, clean):
    assert clean_phoenix_2014t(raw) == clean
