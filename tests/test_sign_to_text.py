import pytest
import torch

from core.vocabulary import GlossVocabulary
from modelling.encoders import StoredFeatures
from modelling.recognition import RecognitionOutput, SignToGloss
from modelling.sign_to_text import Cascade, GlossProbabilityMapper, SignToText, VLMapper
from modelling.translation import GlossToText, TextTranslator, TranslatorError
from modelling.translator_config import GenerationConfig
from modelling.visual_head import VisualHead
from tests.conftest import tiny_translator


def tiny_model(mapper: str = "mlp") -> SignToText:
    torch.manual_seed(0)
    return SignToText(
        SignToGloss(StoredFeatures(24), VisualHead(24, 10, hidden_dim=12, ff_dim=20, dropout=0.0)),
        tiny_translator(),
        (2, 3),
        mapper,
    ).eval()


def test_mapper_maps_gloss_features_to_the_translator_width():
    assert VLMapper(12, 16)(torch.randn(3, 7, 12)).shape == (3, 7, 16)


def test_the_gloss_probability_mapper_mixes_the_gloss_embeddings_by_probability():
    """The paper's CSL-Daily mapper: a bias-free map of the probabilities, columns = the gloss embeddings."""
    mapper = GlossProbabilityMapper(5, 3)
    table = torch.arange(12.0).reshape(4, 3)  # rows of glosses 0-3 (a G2T table may stop before K)
    mapper.init_from(table)
    one_hot = torch.eye(5)[None, [2, 4]]  # gloss 2, then gloss 4 (no row: zero)
    assert mapper(one_hot).tolist() == [[table[2].tolist(), [0.0, 0.0, 0.0]]]
    torch.testing.assert_close(mapper(torch.full((1, 1, 5), 0.25)), table.mean(0)[None, None])
    model = tiny_model("gloss_probabilities")
    recognition = model.recognition(torch.randn(2, 6, 24), torch.tensor([6, 3]))
    embeds, _ = model.encoder_inputs(recognition.log_probs.exp(), recognition.lengths)
    expected = recognition.log_probs.exp()[1, :3] @ model.mapper.embeddings.weight.t()
    torch.testing.assert_close(embeds[1, :3], expected)
    with pytest.raises(ValueError, match="VL mapper 'other' is not one of"):
        SignToText(model.recognition, model.translator, (2, 3), "other")


def test_encoder_inputs_end_with_eos_and_language_embeddings_after_valid_frames():
    model = tiny_model()
    recognition = model.recognition(torch.randn(2, 6, 24), torch.tensor([6, 3]))
    embeds, mask = model.encoder_inputs(recognition.gloss_features, recognition.lengths)
    assert embeds.shape == (2, 8, 16) and mask.tolist() == [[1] * 8, [1] * 5 + [0] * 3]
    ends = model.gloss_embedding.weight[[2, 3]] * model.translator.embed_scale
    assert torch.allclose(embeds[1, 3:5], ends) and torch.allclose(embeds[0, 6:8], ends)
    assert embeds[1, 5:].abs().sum() == 0


def test_padding_does_not_change_a_samples_loss():
    model = tiny_model()
    features, labels = torch.randn(1, 5, 24), torch.tensor([[7, 8, 9, 2, 5]])
    alone = model(features, torch.tensor([5]), labels).translation_loss
    padded = torch.cat([features, torch.randn(1, 3, 24)], dim=1)
    together = model(padded, torch.tensor([5]), labels).translation_loss
    torch.testing.assert_close(alone, together)


def test_forward_backward_reaches_every_trainable_part():
    model = tiny_model().train()
    output = model(torch.randn(2, 6, 24), torch.tensor([6, 4]), torch.tensor([[7, 8, 2, 5], [9, 2, 5, 1]]))
    assert output.recognition.log_probs.shape == (2, 6, 10)
    (output.translation_loss + output.recognition.log_probs.mean()).backward()
    for name in ("recognition.head.projection.weight", "mapper.layers.0.weight", "gloss_embedding.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
    assert model.translator.mbart.get_encoder().layers[0].fc1.weight.grad.abs().sum() > 0
    ids, recognition = model.eval().generate(torch.randn(2, 6, 24), torch.tensor([6, 4]), GenerationConfig(2, 1.0, 6))
    assert ids[:, 0].tolist() == [5, 5] and recognition.lengths.tolist() == [6, 4]


def test_the_papers_input_scale_multiplies_the_whole_encoder_input_by_the_root_of_d_model():
    """``model.input_scale: paper``: mapped features and ends by √d_model, whatever mBART's ``scale_embedding``."""
    model = tiny_model()
    recognition = model.recognition(torch.randn(2, 6, 24), torch.tensor([6, 3]))
    assert model.translator.embed_scale == 1.0  # the tiny mBART does not scale its own embeddings
    ours, mask = model.encoder_inputs(recognition.gloss_features, recognition.lengths)
    model.translator.input_scale = "paper"
    papers, same_mask = model.encoder_inputs(recognition.gloss_features, recognition.lengths)
    torch.testing.assert_close(papers, ours * 4.0)  # √16
    assert torch.equal(mask, same_mask)
    gloss_to_text = GlossToText(10, 1, model.translator)
    ids = torch.tensor([[3, 4, 2]])
    torch.testing.assert_close(gloss_to_text.embed(ids), gloss_to_text.gloss_embedding(ids) * 4.0)
    with pytest.raises(TranslatorError, match="input scale 'other' is not one of"):
        TextTranslator(model.translator.mbart, 5, 0.0, "other")


def test_the_cascade_passes_glosses_to_a_translator_of_another_vocabulary_by_name():
    """The paper's recognition and translation vocabularies differ: glosses go across by name, unknown as <unk>."""
    recognition_vocab = GlossVocabulary(["SUN", "RAIN", "WIND"], "de_DE")
    translation_vocab = GlossVocabulary(["RAIN", "SNOW", "SUN"], "de_DE")
    seen = []

    class Translator(torch.nn.Module):
        def generate(self, gloss_ids, gloss_mask, config):
            seen.append((gloss_ids.tolist(), gloss_mask.tolist()))
            return torch.zeros(len(gloss_ids), 1, dtype=torch.long)

    recognition = SignToGloss(StoredFeatures(24), VisualHead(24, len(recognition_vocab), 12, 20, dropout=0.0))
    cascade = Cascade(recognition, Translator(), 3, recognition_vocab, translation_vocab)
    log_probs = torch.full((2, 4, len(recognition_vocab)), -30.0)
    for sample, path in enumerate([[4, 0, 5, 6], [6, 6, 0, 0]]):  # SUN RAIN WIND; WIND
        log_probs[sample, torch.arange(4), path] = 0.0
    output = RecognitionOutput(torch.zeros(2, 4, 12), log_probs.log_softmax(-1), torch.tensor([4, 2]))
    _, glosses = cascade.translate(output, GenerationConfig(2, 1.0, 6))
    assert [recognition_vocab.decode(g) for g in glosses] == ["SUN RAIN WIND", "WIND"]
    sun, rain, unk = translation_vocab.stoi["SUN"], translation_vocab.stoi["RAIN"], translation_vocab.unk_id
    assert seen == [([[sun, rain, unk, 2, 3], [unk, 2, 3, 0, 0]], [[1] * 5, [1, 1, 1, 0, 0]])]
