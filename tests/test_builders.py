"""The network builders: sizes from the config, S3D only on video, the gloss vocabulary's end ids."""

from __future__ import annotations

from core.config import Config, DataConfig, ModelConfig, RecognitionConfig, TrainingConfig
from core.vocabulary import GlossVocabulary
from modelling.builders import build_cascade, build_recognition, build_sign_to_text
from modelling.s3d import BLOCK_CHANNELS

RECOGNITION = RecognitionConfig(use_block=2, freeze_block=1, hidden_dim=24, ff_dim=32)


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
    return Config(task="s2t", data=data, training=training, model=model, recognition=RECOGNITION)


def test_recognition_runs_s3d_only_on_video_and_sizes_the_head_from_the_config():
    on_video = build_recognition(RECOGNITION, 12, on_video=True)
    assert on_video.backbone is not None and on_video.head.classifier.in_features == 24
    assert build_recognition(RECOGNITION, 12, on_video=False).backbone is None
    assert on_video.head.classifier.out_features == 12
    assert on_video.head.projection.in_features == BLOCK_CHANNELS[2]  # the channels of S3D's last block used
    frozen = list(on_video.backbone.frozen_layers().parameters())
    assert frozen and not any(p.requires_grad for p in frozen)  # freeze_block 1


def test_sign_to_text_and_the_cascade_take_the_end_ids_from_the_gloss_vocabulary():
    vocab = GlossVocabulary(["SUN", "RAIN"], "de_DE")
    s2t = build_sign_to_text(config(), vocab, Tokenizer(), on_video=False)
    assert s2t.end_ids == vocab.end_ids and len(s2t.gloss_embedding.weight) == max(vocab.end_ids) + 1
    cascade = build_cascade(config(), vocab, Tokenizer(), on_video=True)
    assert cascade.vocab is vocab and cascade.recognition.backbone is not None
    assert cascade.translator.gloss_embedding.num_embeddings == len(vocab)
