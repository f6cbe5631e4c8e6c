"""The mBART translator and the Gloss2Text network built on it.

:class:`TextTranslator` wraps ``transformers.MBartForConditionalGeneration`` fed with
``inputs_embeds`` (gloss embeddings here; the VL mapper's output in Sign2Text). Labels follow
mBART's ``X </s> tgt_lang`` format; shifting them right (:mod:`modelling.mbart_adapter`) makes the
decoder start with the last non-pad label token, the target language code, and generation starts
from that same token.
Generation runs this toolkit's static-cache beam search (:mod:`modelling.cached_generation`) or
Hugging Face ``generate()``: the same token ids. ``generation.decoding: auto`` (the default) picks the
static cache on CUDA, where its CUDA graphs save the kernel launches, and ``generate()`` elsewhere,
which is faster on the CPU (:func:`decoder_for`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch
from torch import nn
from transformers import MBartConfig, MBartForConditionalGeneration

from core.errors import ToolkitError
from modelling.cached_generation import CachedGeneration
from modelling.mbart_adapter import embed_scale, shift_tokens_right
from modelling.translator_config import GenerationConfig, ModelConfig

INPUT_SCALES = ("embedding", "paper")
LOG = logging.getLogger("slt.translation")  # a child of the run logger: train.log, on rank 0


class TranslatorError(ToolkitError):
    """A pretrained translator that cannot be loaded."""


def decoder_for(decoding: str, device: torch.device) -> str:
    """``static_cache`` or ``transformers``: ``decoding`` itself, or for ``auto`` the faster one on ``device``."""
    if decoding != "auto":
        return decoding
    return "static_cache" if device.type == "cuda" else "transformers"


def build_mbart(
    config: ModelConfig, vocab_size: int, pad_id: int, eos_id: int, bos_id: int
) -> MBartForConditionalGeneration:
    """A local pretrained mBART (``config.pretrained``) or a randomly initialised one."""
    if config.pretrained:
        if not (Path(config.pretrained) / "config.json").is_file():
            raise TranslatorError(f"{config.pretrained}: not a Hugging Face model directory (no config.json)")
        model = MBartForConditionalGeneration.from_pretrained(config.pretrained)
        if model.config.vocab_size < vocab_size:
            raise TranslatorError(
                f"{config.pretrained}: model vocabulary ({model.config.vocab_size}) is smaller than "
                f"its tokenizer's ({vocab_size})"
            )
        return model
    mbart_config = MBartConfig(
        vocab_size=vocab_size,
        d_model=config.d_model,
        encoder_layers=config.encoder_layers,
        decoder_layers=config.decoder_layers,
        encoder_attention_heads=config.attention_heads,
        decoder_attention_heads=config.attention_heads,
        encoder_ffn_dim=config.ffn_dim,
        decoder_ffn_dim=config.ffn_dim,
        dropout=config.dropout,
        attention_dropout=config.attention_dropout,
        activation_dropout=config.activation_dropout,
        max_position_embeddings=config.max_position_embeddings,
        scale_embedding=True,
        pad_token_id=pad_id,
        eos_token_id=eos_id,
        bos_token_id=bos_id,
        forced_eos_token_id=eos_id,
    )
    return MBartForConditionalGeneration(mbart_config)


class TextTranslator(nn.Module):
    """mBART from input embeddings to text, with label-smoothed loss and beam search."""

    def __init__(
        self,
        mbart: MBartForConditionalGeneration,
        tgt_lang_id: int,
        label_smoothing: float,
        input_scale: str = "embedding",
    ) -> None:
        super().__init__()
        if input_scale not in INPUT_SCALES:
            raise TranslatorError(f"input scale {input_scale!r} is not one of {list(INPUT_SCALES)}")
        self.input_scale = input_scale
        self.mbart = mbart
        self.tgt_lang_id = tgt_lang_id
        self.pad_id = mbart.config.pad_token_id
        self.loss_fn = nn.CrossEntropyLoss(ignore_index=self.pad_id, label_smoothing=label_smoothing)
        self._cached_generation = CachedGeneration(mbart)
        self._devices_logged: set[str] = set()  # where the choice of generation.decoding auto was logged

    @property
    def d_model(self) -> int:
        return self.mbart.config.d_model

    @property
    def embed_scale(self) -> float:
        """The factor mBART applies to its own token embeddings (it does not scale inputs_embeds)."""
        return embed_scale(self.mbart.config)

    @property
    def token_scale(self) -> float:
        """The factor of the embeddings of gloss ids (and of the ``</s> lang`` ends) in the encoder input.

        ``embedding``: mBART's own (:attr:`embed_scale`); ``paper``: √d_model, as the paper's code
        scales every encoder input whatever the model's ``scale_embedding``.
        """
        return math.sqrt(self.d_model) if self.input_scale == "paper" else self.embed_scale

    @property
    def feature_scale(self) -> float:
        """The factor of mapped visual features in the encoder input: 1, or √d_model as the paper's code."""
        return math.sqrt(self.d_model) if self.input_scale == "paper" else 1.0

    def decoder_inputs(self, labels: torch.Tensor) -> torch.Tensor:
        """mBART's teacher-forcing inputs: labels shifted right, starting with the language code."""
        return shift_tokens_right(labels, self.pad_id)

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Label-smoothed cross-entropy of ``labels`` (padded with the pad id)."""
        logits = self.mbart(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            decoder_input_ids=self.decoder_inputs(labels),
            use_cache=False,
        ).logits
        return self.loss_fn(logits.flatten(0, 1).float(), labels.flatten())

    @torch.no_grad()
    def generate(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, config: GenerationConfig
    ) -> torch.Tensor:
        """Beam-search token ids, each row starting with the target language code (``config.decoding`` says how)."""
        device = inputs_embeds.device
        decoder = decoder_for(config.decoding, device)
        if config.decoding == "auto" and device.type not in self._devices_logged:
            self._devices_logged.add(device.type)
            LOG.info("generation.decoding auto: %s on %s", decoder, device.type)
        if decoder == "static_cache":
            states = self.mbart.get_encoder()(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
            return self._cached_generation(states.last_hidden_state, attention_mask, self.tgt_lang_id, config)
        return self.mbart.generate(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            decoder_start_token_id=self.tgt_lang_id,
            num_beams=config.num_beams,
            length_penalty=config.length_penalty,
            max_length=config.max_length,
            do_sample=False,
            **({"early_stopping": config.early_stopping} if config.num_beams > 1 else {}),
        )


class GlossToText(nn.Module):
    """Gloss ids -> gloss embedding (scaled like mBART's) -> :class:`TextTranslator`."""

    def __init__(self, num_glosses: int, gloss_pad_id: int, translator: TextTranslator) -> None:
        super().__init__()
        self.gloss_embedding = nn.Embedding(num_glosses, translator.d_model, padding_idx=gloss_pad_id)
        nn.init.normal_(self.gloss_embedding.weight, std=translator.mbart.config.init_std)
        with torch.no_grad():
            self.gloss_embedding.weight[gloss_pad_id].zero_()
        self.translator = translator

    def embed(self, gloss_ids: torch.Tensor) -> torch.Tensor:
        return self.gloss_embedding(gloss_ids) * self.translator.token_scale

    def forward(self, gloss_ids: torch.Tensor, gloss_mask: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.translator(self.embed(gloss_ids), gloss_mask, labels)

    def generate(self, gloss_ids: torch.Tensor, gloss_mask: torch.Tensor, config: GenerationConfig) -> torch.Tensor:
        return self.translator.generate(self.embed(gloss_ids), gloss_mask, config)

    @torch.no_grad()
    def init_gloss_embedding(self, glosses: dict[int, list[int]]) -> None:
        """Set each gloss's row to the mean of the translator's embeddings of its text pieces."""
        table = self.translator.mbart.get_input_embeddings().weight
        for gloss_id, piece_ids in glosses.items():
            if piece_ids:
                self.gloss_embedding.weight[gloss_id] = table[piece_ids].mean(dim=0)
