"""Sign2Text: the recognition network's gloss features -> VL mapper -> mBART translator; and the cascade.

The VL mapper (Linear 512->d_model, ReLU, Linear d_model->d_model) turns gloss features into the
translator's input embeddings. As in Gloss2Text, the encoder input ends with the gloss
vocabulary's end ids (``</s>`` and the source language code): their embeddings come from the
Gloss2Text gloss embedding (scaled like mBART's), so a Sign2Text model starts from a Gloss2Text
checkpoint's view of sequence ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from core.host_transfer import to_device
from core.vocabulary import GlossVocabulary
from modelling.ctc_decoding import CTCBeamSearch
from modelling.recognition import RecognitionOutput, SignToGloss
from modelling.translation import GlossToText, TextTranslator
from modelling.translator_config import GenerationConfig
from modelling.visual_head import valid_mask


class VLMapper(nn.Module):
    """Gloss features (B×T×in_dim) -> translator input embeddings (B×T×d_model)."""

    def __init__(self, in_dim: int, d_model: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_dim, d_model), nn.ReLU(), nn.Linear(d_model, d_model))

    def forward(self, gloss_features: torch.Tensor) -> torch.Tensor:
        return self.layers(gloss_features)


@dataclass
class SignToTextOutput:
    """The recognition branch's output and the translation loss (None when no labels were given)."""

    recognition: RecognitionOutput
    translation_loss: torch.Tensor | None


class SignToText(nn.Module):
    """Recognition network + VL mapper + translator, with the embeddings of ``end_ids`` appended.

    ``end_ids`` are the gloss vocabulary's (:attr:`core.vocabulary.GlossVocabulary.end_ids`); the
    gloss embedding has rows up to the largest, as the Gloss2Text embedding it starts from.
    """

    def __init__(self, recognition: SignToGloss, translator: TextTranslator, end_ids: tuple[int, int]) -> None:
        super().__init__()
        self.recognition = recognition
        self.mapper = VLMapper(recognition.head.classifier.in_features, translator.d_model)
        self.gloss_embedding = nn.Embedding(max(end_ids) + 1, translator.d_model)
        self.translator = translator
        self.end_ids = tuple(end_ids)

    def encoder_inputs(self, gloss_features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mapped features with ``</s> lang`` after each sample's valid frames, and the attention mask.

        Both scaled as the translator's ``input_scale`` says (mapped features unscaled and the ends
        by mBART's embedding scale; or, as the paper's code, all by √d_model).

        The end embeddings take the mapped features' dtype, which autocast may have lowered.
        """
        mapped = self.mapper(gloss_features) * self.translator.feature_scale
        batch, frames, dim = mapped.shape
        lengths = to_device(lengths, mapped.device)
        ends = self.gloss_embedding(to_device(torch.tensor(self.end_ids), mapped.device))
        ends = (ends * self.translator.token_scale).to(mapped.dtype)
        embeds = torch.cat([mapped, mapped.new_zeros(batch, 2, dim)], dim=1)
        embeds = embeds * valid_mask(lengths, frames + 2)[..., None]
        position = torch.arange(frames + 2, device=mapped.device)[None, :, None]
        end = lengths[:, None, None]
        embeds = torch.where(position == end, ends[0], torch.where(position == end + 1, ends[1], embeds))
        return embeds, valid_mask(lengths + 2, frames + 2).long()

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor | None) -> SignToTextOutput:
        recognition = self.recognition(inputs, lengths)
        if labels is None:
            return SignToTextOutput(recognition, None)
        embeds, mask = self.encoder_inputs(recognition.gloss_features, recognition.lengths)
        return SignToTextOutput(recognition, self.translator(embeds, mask, labels))

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor, lengths: torch.Tensor, config: GenerationConfig) -> tuple:
        """Beam-search token ids and the recognition output, for one batch."""
        recognition = self.recognition(inputs, lengths)
        return self.translate(recognition, config), recognition

    @torch.no_grad()
    def translate(self, recognition: RecognitionOutput, config: GenerationConfig) -> torch.Tensor:
        """Beam-search token ids from the recognition network's output."""
        embeds, mask = self.encoder_inputs(recognition.gloss_features, recognition.lengths)
        return self.translator.generate(embeds, mask, config)


class Cascade(nn.Module):
    """Sign2Gloss2Text: recognise glosses by CTC beam search, then translate them with a G2T model."""

    def __init__(
        self, recognition: SignToGloss, translator: GlossToText, beam_size: int, vocab: GlossVocabulary
    ) -> None:
        super().__init__()
        self.recognition, self.translator = recognition, translator
        self.decoder = CTCBeamSearch(beam_size)
        self.vocab = vocab

    @torch.no_grad()
    def generate(
        self, inputs: torch.Tensor, lengths: torch.Tensor, config: GenerationConfig
    ) -> tuple[torch.Tensor, list[list[int]]]:
        """Token ids of the translations and the recognised gloss ids of one batch."""
        return self.translate(self.recognition(inputs, lengths), config)

    @torch.no_grad()
    def translate(
        self, recognition: RecognitionOutput, config: GenerationConfig
    ) -> tuple[torch.Tensor, list[list[int]]]:
        """Token ids and gloss ids from the recognition network's output: beam search, then G2T."""
        glosses = self.decoder.decode(recognition.log_probs, recognition.lengths)
        device = recognition.log_probs.device
        framed = [torch.tensor(self.vocab.frame(g), device=device) for g in glosses]
        gloss_ids = pad_sequence(framed, batch_first=True, padding_value=self.vocab.pad_id)
        return self.translator.generate(gloss_ids, (gloss_ids != self.vocab.pad_id).long(), config), glosses
