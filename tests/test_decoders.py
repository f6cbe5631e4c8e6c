"""engine.tasks.decoders: token ids to sentences as the references are written."""

from __future__ import annotations

import pytest

from engine.tasks.decoders import split_final_stop


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("am tag regnet es.", "am tag regnet es ."),
        ("am tag regnet es .", "am tag regnet es ."),  # already as the references
        ("ja", "ja"),
        ("a.", "a."),  # two characters: left as it is, as the paper's code does
        ("ok!", "ok!"),
    ],
)
def test_a_final_full_stop_is_split_off_as_the_papers_code_does(text, expected):
    assert split_final_stop(text) == expected
