import random

from dataset.annotations import read_annotations
from dataset.toy_sign_language import generate_split, glossary, make_sentence, write_toy_dataset


def test_generation_is_deterministic_and_splits_differ():
    assert generate_split("train", 50, seed=1) == generate_split("train", 50, seed=1)
    assert generate_split("train", 50, seed=1) != generate_split("train", 50, seed=2)
    train = [r["gloss"] for r in generate_split("train", 50, seed=1)]
    assert train != [r["gloss"] for r in generate_split("test", 50, seed=1)]


def test_language_uses_a_few_dozen_glosses():
    glosses = {g for r in generate_split("train", 2000, seed=0) for g in r["gloss"].split()}
    assert glosses == set(glossary())
    assert 30 <= len(glosses) <= 60


def test_text_reorders_and_inflects():
    rng = random.Random(5)
    pairs = [make_sentence(rng) for _ in range(500)]
    for glosses, text in pairs:
        first = glosses.split()[0]
        if first in ("YESTERDAY", "TODAY", "TOMORROW"):  # time comes first in signs, last in text
            assert text.endswith(f"{first.lower()} .")
        if first == "TOMORROW":
            assert " will " in text
        if first == "YESTERDAY" and glosses.endswith("NOT"):
            assert " did not " in text
        assert text.split()[0] in ("i", "you", "she", "the")  # subject first, verb second
    assert sum(g.split() != t.split() for g, t in pairs) == len(pairs)


def test_known_sentence_translation():
    assert "IX-3" in glossary()
    from dataset import toy_sign_language as toy

    assert toy._verb_phrase("BUY", "past", True, False) == "bought"
    assert toy._verb_phrase("BUY", "present", True, True) == "does not buy"
    assert toy._noun_phrase("APPLE", False, "OLD", definite=False) == "an old apple"
    assert toy._noun_phrase("CHILD", True, None, definite=True) == "the children"


def test_written_in_the_real_annotation_format(tmp_path):
    paths = {s: str(tmp_path / f"toy.{s}") for s in ("train", "dev", "test")}
    write_toy_dataset(paths, {"train": 5, "dev": 3, "test": 2}, seed=0)
    samples = read_annotations(paths["dev"], "pickle")
    assert [s.name for s in samples] == ["dev/toy-00000", "dev/toy-00001", "dev/toy-00002"]
    assert all(s.num_frames == 16 * len(s.gloss.split()) for s in samples)
