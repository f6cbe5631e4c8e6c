import torch

from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample
from dataset.gloss_text import GlossTextCollator, encode_samples


class WordTokenizer:
    """A stand-in with the MBartTokenizer call signature: one id per word, then </s> and the language."""

    pad_token_id = 1

    def __call__(self, text_target: list[str]) -> dict:
        return {"input_ids": [[10 + len(w) for w in t.split()] + [2, 5] for t in text_target]}


SAMPLES = [
    Sample("a", "REGEN MORGEN", "morgen regnet es"),
    Sample("b", "SONNE NEU", "sonne"),
    Sample("c", "REGEN " * 9, "viel regen"),
]


def test_encode_counts_unknown_glosses_and_drops_long_samples_in_training():
    vocab = GlossVocabulary.build(["REGEN MORGEN", "SONNE"], "de_DE")
    encoded = encode_samples(SAMPLES, vocab, WordTokenizer(), max_gloss_length=5, max_text_length=4, drop_too_long=True)
    assert [e.name for e in encoded.examples] == ["b"]
    assert encoded.counts == {"too long": 2, "unknown glosses": 1, "samples with unknown glosses": 1}
    assert encoded.examples[0].translator_input == [vocab.stoi["SONNE"], vocab.unk_id, vocab.eos_id, vocab.lang_id]


def test_evaluation_truncates_instead_of_dropping():
    vocab = GlossVocabulary.build(["REGEN MORGEN", "SONNE"], "de_DE")
    encoded = encode_samples(
        SAMPLES, vocab, WordTokenizer(), max_gloss_length=5, max_text_length=4, drop_too_long=False
    )
    assert [e.name for e in encoded.examples] == ["a", "b", "c"]
    assert encoded.examples[0].label_ids == [16, 16, 2, 5]  # keeps "</s> lang" at the end
    assert len(encoded.examples[2].translator_input) == 5 + 2
    assert encoded.examples[0].text == "morgen regnet es"


def test_collate_pads_and_masks():
    vocab = GlossVocabulary.build(["REGEN MORGEN", "SONNE"], "de_DE")
    examples = encode_samples(SAMPLES[:2], vocab, WordTokenizer(), 10, 10, drop_too_long=True).examples
    batch = GlossTextCollator(vocab.pad_id, text_pad_id=1)(examples)
    assert batch["names"] == ["a", "b"]
    assert batch["translator_input"].shape == (2, 4) and batch["labels"].shape == (2, 5)
    assert torch.equal(batch["translator_mask"], torch.tensor([[1, 1, 1, 1], [1, 1, 1, 1]]))
    assert batch["labels"][1].tolist() == [15, 2, 5, 1, 1]
