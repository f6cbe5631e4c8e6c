import gzip
import pickle

import pytest

from dataset.annotations import AnnotationError, Sample, normalise_text, prepare_samples, read_annotations
from tests.conftest import PHOENIX

RECORDS = [
    {"name": "dev/a", "signer": "S1", "gloss": "REGEN MORGEN", "text": "Morgen  regnet es .", "num_frames": 40},
    {"name": "dev/b", "signer": "S2", "gloss": "  ", "text": "nichts", "num_frames": 10},
    {"name": "dev/c", "signer": "S2", "gloss": "SONNE", "text": "", "num_frames": 12},
]
CSV = (
    "name|video|start|end|speaker|orth|translation\n"
    "dev/a|dev/a/1/*.png|-1|-1|S1|REGEN MORGEN|Morgen  regnet es .\n"
    "dev/b|dev/b/1/*.png|-1|-1|S2|  |nichts\n"
    "dev/c|dev/c/1/*.png|-1|-1|S2|SONNE|\n"
)


@pytest.mark.parametrize("compressed", [True, False])
def test_pickle_reader(tmp_path, compressed):
    path = tmp_path / "split.pkl"
    data = pickle.dumps(RECORDS)
    path.write_bytes(gzip.compress(data) if compressed else data)
    samples = read_annotations(path, "pickle")
    assert [s.name for s in samples] == ["dev/a", "dev/b", "dev/c"]
    assert samples[0].gloss == "REGEN MORGEN" and samples[0].num_frames == 40


def test_csv_reader_matches_pickle(tmp_path):
    csv_path, pkl_path = tmp_path / "split.csv", tmp_path / "split.pkl"
    csv_path.write_text(CSV, encoding="utf-8")
    pkl_path.write_bytes(gzip.compress(pickle.dumps(RECORDS)))
    from_csv, from_pickle = read_annotations(csv_path, "phoenix_csv"), read_annotations(pkl_path, "pickle")
    assert [(s.name, s.gloss, s.text) for s in from_csv] == [(s.name, s.gloss, s.text) for s in from_pickle]
    assert from_csv[0].video == "dev/a/1/*.png" and from_csv[0].signer == "S1"


def test_prepare_counts_and_skips_empty_samples(tmp_path):
    path = tmp_path / "split.pkl"
    path.write_bytes(gzip.compress(pickle.dumps(RECORDS)))
    prepared = prepare_samples(read_annotations(path), level="word", lowercase=True)
    assert [s.text for s in prepared.samples] == ["morgen regnet es ."]
    assert prepared.skipped == {"empty gloss": 1, "empty text": 1}
    assert prepared.skipped_names == ["dev/b", "dev/c"]


def test_glosses_are_lower_cased_on_request_as_the_papers_vocabularies_are():
    samples = [Sample("a", "MORGEN  REGEN-plusplus STRAßE", "Morgen regnet es .")]
    assert prepare_samples(samples, "word", lowercase=True).samples[0].gloss == "MORGEN REGEN-plusplus STRAßE"
    lowered = prepare_samples(samples, "word", lowercase=True, lowercase_glosses=True)
    assert lowered.samples[0].gloss == "morgen regen-plusplus straße"


def test_character_level_and_case():
    assert normalise_text("我们 今天", "char", lowercase=True) == "我 们 今 天"
    assert normalise_text("Der  Wind", "word", lowercase=False) == "Der Wind"


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b"\x1f\x8bnot really gzip", "pickle", "not a readable"),
        (gzip.compress(pickle.dumps({"name": "x"})), "pickle", "expected a list of dicts"),
        (gzip.compress(pickle.dumps([{"name": "x"}])), "pickle", "record 0 lacks the keys"),
        (b"name|orth\nx|Y\n", "phoenix_csv", "expected the header"),
        (CSV.encode() + b"dev/d|too|few\n", "phoenix_csv", "line 5 has 3 fields"),
    ],
)
def test_corrupt_files_name_the_file(tmp_path, content, fmt, message):
    path = tmp_path / "broken.annotations"
    path.write_bytes(content)
    with pytest.raises(AnnotationError, match=message) as error:
        read_annotations(path, fmt)
    assert str(path) in str(error.value)


def test_missing_file():
    with pytest.raises(AnnotationError, match="annotation file not found"):
        read_annotations("/nonexistent/file.train")


@pytest.mark.skipif(not PHOENIX.is_dir(), reason="../shared/data/phoenix-2014t is not present")
def test_real_phoenix_annotations():
    samples = read_annotations(PHOENIX / "phoenix-2014t_cleaned.dev")
    assert len(samples) == 519
    prepared = prepare_samples(samples, "word", lowercase=True)
    assert len(prepared.samples) == 519 and not prepared.skipped
