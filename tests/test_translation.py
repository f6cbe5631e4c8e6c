import math

import pytest
import torch

from core.vocabulary import GlossVocabulary
from modelling.tokenizers import load_text_tokenizer
from modelling.translation import GlossToText, TextTranslator, TranslatorError, build_mbart
from modelling.translator_config import GenerationConfig, ModelConfig


@pytest.fixture(scope="module")
def pretrained(tiny_mbart_dir):
    """A GlossToText on the tiny mBART loaded from disk, as a real mbart-large-cc25 would be."""
    tokenizer = load_text_tokenizer(tiny_mbart_dir, "en_XX", "en_XX")
    mbart = build_mbart(ModelConfig(pretrained=str(tiny_mbart_dir)), len(tokenizer), 1, 2, 0)
    lang_id = tokenizer.convert_tokens_to_ids("en_XX")
    vocab = GlossVocabulary.build(["IX-1 BOOK BUY", "YESTERDAY IX-3 APPLE EAT NOT"], "en_XX")
    torch.manual_seed(0)
    model = GlossToText(len(vocab), vocab.pad_id, TextTranslator(mbart, lang_id, label_smoothing=0.1))
    return model, vocab, tokenizer


def batch(vocab, tokenizer, glosses, texts):
    from dataset.gloss_text import GlossTextCollator, GlossTextExample

    labels = tokenizer(text_target=texts)["input_ids"]
    examples = [
        GlossTextExample(str(i), vocab.encode(g).ids, y, t, 0, vocab.encode(g, framed=False).ids, g)
        for i, (g, t, y) in enumerate(zip(glosses, texts, labels, strict=False))
    ]
    return GlossTextCollator(vocab.pad_id, tokenizer.pad_token_id)(examples)


def test_forward_backward_on_pretrained_from_disk(pretrained):
    model, vocab, tokenizer = pretrained
    b = batch(
        vocab,
        tokenizer,
        ["IX-1 BOOK BUY", "YESTERDAY IX-3 APPLE EAT NOT"],
        ["i buy a book .", "she did not eat an apple yesterday ."],
    )
    model.train()
    loss = model(b["translator_input"], b["translator_mask"], b["labels"])
    assert loss.ndim == 0 and math.isfinite(loss.item())
    # near-uniform predictions at initialisation: loss close to log(vocabulary size)
    assert abs(loss.item() - math.log(len(tokenizer))) < 1.5
    loss.backward()
    assert model.gloss_embedding.weight.grad.abs().sum() > 0
    assert model.translator.mbart.model.shared.weight.grad.abs().sum() > 0
    model.zero_grad()


def test_gloss_embeddings_are_scaled_like_mbart_embeddings(pretrained):
    model, vocab, _ = pretrained
    ids = torch.tensor([vocab.encode("BOOK").ids])
    assert model.translator.embed_scale == pytest.approx(math.sqrt(32))
    torch.testing.assert_close(model.embed(ids), model.gloss_embedding(ids) * math.sqrt(32))


def test_training_and_generation_agree_on_decoder_start(pretrained):
    """Teacher forcing on a generated sequence reproduces it: both start with the language code."""
    model, vocab, tokenizer = pretrained
    model.eval()
    lang_id = tokenizer.convert_tokens_to_ids("en_XX")
    b = batch(vocab, tokenizer, ["IX-1 BOOK BUY", "YESTERDAY IX-3 APPLE EAT NOT"], ["x .", "y ."])
    generated = model.generate(
        b["translator_input"], b["translator_mask"], GenerationConfig(num_beams=1, max_length=12)
    )
    assert (generated[:, 0] == lang_id).all()
    # labels in mBART's format: the generated text tokens, then the language code
    labels = torch.cat([generated[:, 1:], torch.full((len(generated), 1), tokenizer.pad_token_id)], dim=1)
    for row in labels:
        row[(row != tokenizer.pad_token_id).sum()] = lang_id
    decoder_inputs = model.translator.decoder_inputs(labels)
    torch.testing.assert_close(decoder_inputs[:, : generated.shape[1]], generated)
    logits = model.translator.mbart(
        inputs_embeds=model.embed(b["translator_input"]),
        attention_mask=b["translator_mask"],
        decoder_input_ids=decoder_inputs,
    ).logits
    for row, sequence in enumerate(generated):
        # every generated token but the last (which max_length may force to </s>) is the argmax
        length = int((sequence != tokenizer.pad_token_id).sum()) - 2
        assert length >= 5
        assert torch.equal(logits[row, :length].argmax(-1), sequence[1 : length + 1])


def test_real_labels_start_decoder_with_language_code(pretrained):
    model, _, tokenizer = pretrained
    labels = torch.tensor(tokenizer(text_target=["i buy a book .", "she eats ."], padding=True)["input_ids"])
    starts = model.translator.decoder_inputs(labels)[:, 0]
    assert (starts == tokenizer.convert_tokens_to_ids("en_XX")).all()


def test_gloss_embedding_initialised_from_mbart_pieces(pretrained):
    model, vocab, tokenizer = pretrained
    pieces = tokenizer("book", add_special_tokens=False)["input_ids"]
    model.init_gloss_embedding({vocab.stoi["BOOK"]: pieces})
    table = model.translator.mbart.get_input_embeddings().weight
    torch.testing.assert_close(model.gloss_embedding.weight[vocab.stoi["BOOK"]], table[pieces].mean(0))


def test_from_scratch_translator_has_configured_shape():
    mbart = build_mbart(
        ModelConfig(d_model=16, encoder_layers=1, decoder_layers=2, attention_heads=2, ffn_dim=8), 50, 1, 2, 0
    )
    assert mbart.config.vocab_size == 50 and len(mbart.model.decoder.layers) == 2
    assert mbart.config.scale_embedding


def test_pretrained_dir_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(TranslatorError, match="no config.json"):
        build_mbart(ModelConfig(pretrained=str(tmp_path)), 10, 1, 2, 0)
