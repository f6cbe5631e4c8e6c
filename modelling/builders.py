"""Every network of the toolkit, built from the validated config: the recognition network, the translator, the stages.

The tasks, extraction and translation all build their networks here, so a network has one
definition of how the config sizes it. Builders give random weights (the encoder: its pretrained
weights, e.g. S3D's Kinetics-400, when ``pretrained`` is set and its config names them);
checkpoints are loaded by the caller. A recognition network is built over an encoder module: the
one ``recognition.encoder`` configures, or a pass-through of the features it computed apart
(:func:`modelling.encoders.stored_features_of`; a task's input source says which).
"""

from __future__ import annotations

from torch import nn

from core.config import Config
from core.vocabulary import GlossVocabulary
from modelling.recognition import RecognitionConfig, SignToGloss
from modelling.sign_to_text import Cascade, SignToText
from modelling.translation import GlossToText, TextTranslator, build_mbart
from modelling.two_stream import TwoStreamBackbone, TwoStreamSignToGloss
from modelling.visual_head import VisualHead


def build_visual_head(cfg: RecognitionConfig, input_width: int, num_glosses: int) -> VisualHead:
    """The visual head over features ``input_width`` wide, sized by the config."""
    return VisualHead(input_width, num_glosses, cfg.hidden_dim, cfg.ff_dim, cfg.dropout, cfg.head_variant)


def build_recognition(
    cfg: RecognitionConfig, encoder: nn.Module, num_glosses: int
) -> SignToGloss | TwoStreamSignToGloss:
    """The Sign2Gloss network: ``encoder``, then the visual head sized by the config over its output width
    (the two-stream network: its heads, see :func:`build_two_stream`)."""
    if isinstance(encoder, TwoStreamBackbone):
        return build_two_stream(cfg, encoder, num_glosses)
    return SignToGloss(encoder, build_visual_head(cfg, encoder.output_width, num_glosses))


def build_two_stream(cfg: RecognitionConfig, encoder: TwoStreamBackbone, num_glosses: int) -> TwoStreamSignToGloss:
    """The two-stream network: a head per stream and a fusion head over the top levels, two auxiliary heads per
    stream over the lower ones."""
    top = encoder.level_widths[-1]
    heads = {name: build_visual_head(cfg, width, num_glosses) for name, width in [("video", top), ("keypoints", top)]}
    heads["fusion"] = build_visual_head(cfg, 2 * top, num_glosses)
    aux = {
        stream: [build_visual_head(cfg, width, num_glosses) for width in encoder.level_widths[:-1]]
        for stream in ("video", "keypoints")
    }
    return TwoStreamSignToGloss(encoder, heads, aux, cfg.encoder.loss_weights())


def build_translator(config: Config, tokenizer) -> TextTranslator:
    """The mBART translator of ``config.model`` over ``tokenizer``'s vocabulary, decoding into ``data.tgt_lang``."""
    mbart = build_mbart(
        config.model, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id
    )
    tgt_lang_id = tokenizer.convert_tokens_to_ids(config.data.tgt_lang)
    return TextTranslator(mbart, tgt_lang_id, config.model.label_smoothing, config.model.input_scale)


def build_gloss_to_text(config: Config, vocab: GlossVocabulary, tokenizer) -> GlossToText:
    """The Gloss2Text network: a gloss embedding in front of the translator."""
    return GlossToText(len(vocab), vocab.pad_id, build_translator(config, tokenizer))


def build_sign_to_text(
    config: Config, vocab: GlossVocabulary, tokenizer, encoder: nn.Module, mapper: str = "mlp"
) -> SignToText:
    """The Sign2Text network: recognition over ``encoder`` (see :func:`build_recognition`), VL mapper
    (``mapper``: one of :data:`~modelling.sign_to_text.MAPPERS`), translator."""
    recognition = build_recognition(config.recognition, encoder, len(vocab))
    return SignToText(recognition, build_translator(config, tokenizer), vocab.end_ids, mapper)


def build_cascade(
    config: Config,
    vocab: GlossVocabulary,
    tokenizer,
    encoder: nn.Module,
    translation_vocab: GlossVocabulary | None = None,
) -> Cascade:
    """Sign2Gloss over ``encoder`` (glosses of ``vocab``) then Gloss2Text (of ``translation_vocab``, ``vocab``
    if None), each of which the caller loads from its own checkpoint."""
    recognition = build_recognition(config.recognition, encoder, len(vocab))
    translator = build_gloss_to_text(config, translation_vocab or vocab, tokenizer)
    return Cascade(recognition, translator, config.recognition.beam_size, vocab, translation_vocab)
