import pytest

from core.vocabulary import GlossVocabulary, TokenizerError
from dataset.toy_sign_language import generate_split
from modelling.tokenizers import load_text_tokenizer, train_text_tokenizer


def test_gloss_vocabulary_build_encode_decode(tmp_path):
    vocab = GlossVocabulary.build(["REGEN MORGEN", "REGEN SONNE", "REGEN"], lang="de_DE")
    assert vocab.itos[:4] == ["<pad>", "<unk>", "</s>", "de_DE"]
    assert vocab.glosses == ["REGEN", "MORGEN", "SONNE"]  # by frequency, ties alphabetical
    encoded = vocab.encode("SONNE SCHNEE REGEN")
    assert encoded.ids == [6, vocab.unk_id, 4, vocab.eos_id, vocab.lang_id]
    assert encoded.num_unknown == 1
    assert vocab.decode(encoded.ids) == "SONNE REGEN"
    assert vocab.encode("A B C SONNE", max_length=2).ids == [1, 1, 2, 3]
    vocab.save(tmp_path / "glosses.txt")
    assert GlossVocabulary.load(tmp_path / "glosses.txt", "de_DE").itos == vocab.itos


def test_gloss_vocabulary_errors(tmp_path):
    with pytest.raises(TokenizerError, match="reserved"):
        GlossVocabulary(["</s>", "A"], "de_DE")
    with pytest.raises(TokenizerError, match="duplicate"):
        GlossVocabulary(["A", "A"], "de_DE")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(TokenizerError, match="holds no glosses"):
        GlossVocabulary.load(tmp_path / "empty.txt", "de_DE")


@pytest.fixture(scope="module")
def text_tokenizer(tmp_path_factory):
    texts = [r["text"] for r in generate_split("train", 300, seed=0)] + ["über grüße straße ."]
    return train_text_tokenizer(texts, tmp_path_factory.mktemp("tok"), 120, "unigram", "en_XX", "en_XX")


def test_text_tokenizer_round_trip_and_mbart_format(text_tokenizer):
    text = "the children did not buy a red ball at school yesterday ."
    ids = text_tokenizer(text_target=text)["input_ids"]
    assert ids[-2:] == [text_tokenizer.eos_token_id, text_tokenizer.convert_tokens_to_ids("en_XX")]
    assert text_tokenizer.decode(ids, skip_special_tokens=True) == text
    umlauts = "über grüße straße ."
    assert text_tokenizer.decode(text_tokenizer(text_target=umlauts)["input_ids"], skip_special_tokens=True) == umlauts


def test_text_tokenizer_reloads_identically(text_tokenizer):
    directory = text_tokenizer.name_or_path
    again = load_text_tokenizer(directory, "en_XX", "en_XX")
    text = "you will see the old houses ."
    assert again(text_target=text)["input_ids"] == text_tokenizer(text_target=text)["input_ids"]
    assert len(again) == len(text_tokenizer)


def test_directory_without_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(TokenizerError, match="no tokenizer found"):
        load_text_tokenizer(tmp_path, "de_DE", "de_DE")
