"""Every network of the toolkit, built from the validated config: S3D, the visual head, the translator, the stages.

The tasks, extraction and translation all build their networks here, so a network has one
definition of how the config sizes it. Builders give random weights (S3D: Kinetics-400 weights when
``recognition.s3d_weights`` names them and ``kinetics`` is set); checkpoints are loaded by the caller.
"""

from __future__ import annotations

from core.config import Config, RecognitionConfig
from core.vocabulary import GlossVocabulary
from modelling.recognition import SignToGloss
from modelling.s3d import BLOCK_CHANNELS, S3DBackbone, load_kinetics_weights
from modelling.sign_to_text import Cascade, SignToText
from modelling.translation import GlossToText, TextTranslator, build_mbart
from modelling.visual_head import VisualHead


def build_backbone(cfg: RecognitionConfig, kinetics: bool = False) -> S3DBackbone:
    """S3D blocks 1..use_block; with ``kinetics``, the Kinetics-400 weights of ``cfg.s3d_weights`` (if set)."""
    backbone = S3DBackbone(cfg.use_block, cfg.freeze_block, cfg.bn_momentum)
    if kinetics and cfg.s3d_weights:
        load_kinetics_weights(backbone, cfg.s3d_weights)
    return backbone


def build_visual_head(cfg: RecognitionConfig, num_glosses: int) -> VisualHead:
    """The visual head over the backbone's channels, sized by the config."""
    return VisualHead(BLOCK_CHANNELS[cfg.use_block], num_glosses, cfg.hidden_dim, cfg.ff_dim, cfg.dropout)


def build_recognition(cfg: RecognitionConfig, num_glosses: int, on_video: bool, kinetics: bool = False) -> SignToGloss:
    """The Sign2Gloss network: S3D then the visual head on video (``on_video``), the head alone on features."""
    backbone = build_backbone(cfg, kinetics) if on_video else None
    return SignToGloss(build_visual_head(cfg, num_glosses), backbone)


def build_translator(config: Config, tokenizer) -> TextTranslator:
    """The mBART translator of ``config.model`` over ``tokenizer``'s vocabulary, decoding into ``data.tgt_lang``."""
    mbart = build_mbart(
        config.model, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id
    )
    tgt_lang_id = tokenizer.convert_tokens_to_ids(config.data.tgt_lang)
    return TextTranslator(mbart, tgt_lang_id, config.model.label_smoothing)


def build_gloss_to_text(config: Config, vocab: GlossVocabulary, tokenizer) -> GlossToText:
    """The Gloss2Text network: a gloss embedding in front of the translator."""
    return GlossToText(len(vocab), vocab.pad_id, build_translator(config, tokenizer))


def build_sign_to_text(config: Config, vocab: GlossVocabulary, tokenizer, on_video: bool) -> SignToText:
    """The Sign2Text network: recognition (with S3D when ``on_video``), VL mapper and translator."""
    recognition = build_recognition(config.recognition, len(vocab), on_video)
    return SignToText(recognition, build_translator(config, tokenizer), vocab.end_ids)


def build_cascade(config: Config, vocab: GlossVocabulary, tokenizer, on_video: bool) -> Cascade:
    """Sign2Gloss then Gloss2Text, each of which the caller loads from its own checkpoint."""
    recognition = build_recognition(config.recognition, len(vocab), on_video)
    return Cascade(recognition, build_gloss_to_text(config, vocab, tokenizer), config.recognition.beam_size, vocab)
