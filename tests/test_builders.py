"""The network builders: sizes from the config and the encoder, the gloss vocabulary's end ids."""

from __future__ import annotations

from core.config import Config, DataConfig, TrainingConfig
from core.vocabulary import GlossVocabulary
from modelling.builders import build_cascade, build_recognition, build_sign_to_text
from modelling.encoders import stored_features_of
from modelling.recognition import RecognitionConfig
from modelling.s3d import BLOCK_CHANNELS, S3DBackbone, S3DEncoderConfig
from modelling.translator_config import ModelConfig

ENCODER = S3DEncoderConfig(use_block=2, freeze_block=1)
RECOGNITION = RecognitionConfig(encoder=ENCODER, hidden_dim=24, ff_dim=32)


class Tokenizer:
    """The little of an mBART tokenizer the translator builder reads: 40 tokens, pad 1, eos 2, bos 0."""

    pad_token_id, eos_token_id, bos_token_id = 1, 2, 0

    def __len__(self) -> int:
        return 40

    def convert_tokens_to_ids(self, token: str) -> int:
        return 5


def config() -> Config:
    model = ModelConfig(d_model=16, encoder_layers=1, decoder_layers=1, attention_heads=2, ffn_dim=32)
    data, training = DataConfig("train", "dev", "test"), TrainingConfig("unused")
    return Config("s2t", data, training, model=model, recognition=RECOGNITION)


def test_recognition_sizes_the_head_from_the_config_and_the_encoder():
    on_video = build_recognition(RECOGNITION, ENCODER.build(pretrained=False), 12)
    assert isinstance(on_video.encoder, S3DBackbone) and on_video.head.classifier.in_features == 24
    on_features = build_recognition(RECOGNITION, stored_features_of(ENCODER), 12)
    assert not list(on_features.encoder.parameters())  # a pass-through of stored features
    assert on_features.head.projection.in_features == on_video.head.projection.in_features
    assert on_video.head.classifier.out_features == 12
    assert on_video.head.projection.in_features == BLOCK_CHANNELS[2]  # the channels of S3D's last block used
    frozen = list(on_video.encoder.frozen_layers().parameters())
    assert frozen and not any(p.requires_grad for p in frozen)  # freeze_block 1


def test_sign_to_text_and_the_cascade_take_the_end_ids_from_the_gloss_vocabulary():
    vocab = GlossVocabulary(["SUN", "RAIN"], "de_DE")
    s2t = build_sign_to_text(config(), vocab, Tokenizer(), stored_features_of(ENCODER))
    assert s2t.end_ids == vocab.end_ids and len(s2t.gloss_embedding.weight) == max(vocab.end_ids) + 1
    cascade = build_cascade(config(), vocab, Tokenizer(), ENCODER.build(pretrained=False))
    assert cascade.vocab is vocab and isinstance(cascade.recognition.encoder, S3DBackbone)
    assert cascade.translator.gloss_embedding.num_embeddings == len(vocab)
