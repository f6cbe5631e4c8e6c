"""Sign2Text: the recognition network's gloss features -> VL mapper -> mBART translator; and the cascade.

The VL mapper turns the recognition network's output into the translator's input embeddings:
``mlp`` (Linear hidden->d_model, ReLU, Linear d_model->d_model) over the gloss features, the
paper's PHOENIX-2014T mapper; or ``gloss_probabilities``, a bias-free Linear over the gloss
probabilities (K->d_model, each gloss's column a gloss embedding), its CSL-Daily one. As in
Gloss2Text, the encoder input ends with the gloss vocabulary's end ids (``</s>`` and the source
language code): their embeddings come from the Gloss2Text gloss embedding (scaled like mBART's), so
a Sign2Text model starts from a Gloss2Text checkpoint's view of sequence ends.
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

MAPPERS = ("mlp", "gloss_probabilities")


class VLMapper(nn.Module):
    """Gloss features (B×T×in_dim) -> translator input embeddings (B×T×d_model)."""

    reads = "gloss_features"

    def __init__(self, in_dim: int, d_model: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_dim, d_model), nn.ReLU(), nn.Linear(d_model, d_model))

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    def forward(self, gloss_features: torch.Tensor) -> torch.Tensor:
        return self.layers(gloss_features)


class GlossProbabilityMapper(nn.Module):
    """Gloss probabilities (B×T×K) -> their mix of gloss embeddings (B×T×d_model): a bias-free Linear."""

    reads = "probabilities"

    def __init__(self, num_glosses: int, d_model: int) -> None:
        super().__init__()
        self.embeddings = nn.Linear(num_glosses, d_model, bias=False)

    @property
    def in_features(self) -> int:
        return self.embeddings.in_features

    def forward(self, probabilities: torch.Tensor) -> torch.Tensor:
        return self.embeddings(probabilities)

    @torch.no_grad()
    def init_from(self, gloss_embedding: torch.Tensor) -> None:
        """Each gloss's column from ``gloss_embedding`` (K'×d_model, rows in this vocabulary's ids; K' <= K)."""
        self.embeddings.weight.zero_()
        self.embeddings.weight[:, : len(gloss_embedding)] = gloss_embedding.t()


def mapper_input(reads: str, recognition: RecognitionOutput) -> torch.Tensor:
    """What a mapper that ``reads`` (its attribute) takes of the recognition output: gloss features or probabilities."""
    return recognition.gloss_features if reads == "gloss_features" else recognition.log_probs.exp()


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

    def __init__(
        self, recognition: SignToGloss, translator: TextTranslator, end_ids: tuple[int, int], mapper: str = "mlp"
    ) -> None:
        super().__init__()
        self.recognition = recognition
        classifier = recognition.head.classifier
        if mapper not in MAPPERS:
            raise ValueError(f"VL mapper {mapper!r} is not one of {list(MAPPERS)}")
        self.mapper = (
            VLMapper(classifier.in_features, translator.d_model)
            if mapper == "mlp"
            else GlossProbabilityMapper(classifier.out_features, translator.d_model)
        )
        self.gloss_embedding = nn.Embedding(max(end_ids) + 1, translator.d_model)
        self.translator = translator
        self.end_ids = tuple(end_ids)

    def encoder_inputs(self, mapped_from: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mapped features with ``</s> lang`` after each sample's valid frames, and the attention mask.

        ``mapped_from``: what the mapper reads (:func:`mapper_input`), gloss features or probabilities.

        Both scaled as the translator's ``input_scale`` says (mapped features unscaled and the ends
        by mBART's embedding scale; or, as the paper's code, all by √d_model).

        The end embeddings take the mapped features' dtype, which autocast may have lowered.
        """
        mapped = self.mapper(mapped_from) * self.translator.feature_scale
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
        embeds, mask = self.encoder_inputs(mapper_input(self.mapper.reads, recognition), recognition.lengths)
        return SignToTextOutput(recognition, self.translator(embeds, mask, labels))

    @torch.no_grad()
    def generate(self, inputs: torch.Tensor, lengths: torch.Tensor, config: GenerationConfig) -> tuple:
        """Beam-search token ids and the recognition output, for one batch."""
        recognition = self.recognition(inputs, lengths)
        return self.translate(recognition, config), recognition

    @torch.no_grad()
    def translate(self, recognition: RecognitionOutput, config: GenerationConfig) -> torch.Tensor:
        """Beam-search token ids from the recognition network's output."""
        embeds, mask = self.encoder_inputs(mapper_input(self.mapper.reads, recognition), recognition.lengths)
        return self.translator.generate(embeds, mask, config)


class Cascade(nn.Module):
    """Sign2Gloss2Text: recognise glosses by CTC beam search, then translate them with a G2T model.

    The G2T model may have a gloss vocabulary of its own (``translation_vocab``; the paper's two
    stages have two): recognised glosses pass to it by name, one it does not know as ``<unk>``.
    """

    def __init__(
        self,
        recognition: SignToGloss,
        translator: GlossToText,
        beam_size: int,
        vocab: GlossVocabulary,
        translation_vocab: GlossVocabulary | None = None,
    ) -> None:
        super().__init__()
        self.recognition, self.translator = recognition, translator
        self.decoder = CTCBeamSearch(beam_size)
        self.vocab = vocab
        self.translation_vocab = translation_vocab or vocab
        target = self.translation_vocab
        self._to_translation = [target.stoi.get(token, target.unk_id) for token in vocab.itos]

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
        """Token ids and gloss ids (of :attr:`vocab`) from the recognition network's output: beam search, then G2T."""
        glosses = self.decoder.decode(recognition.log_probs, recognition.lengths)
        device, target = recognition.log_probs.device, self.translation_vocab
        framed = [torch.tensor(target.frame([self._to_translation[i] for i in g]), device=device) for g in glosses]
        gloss_ids = pad_sequence(framed, batch_first=True, padding_value=target.pad_id)
        return self.translator.generate(gloss_ids, (gloss_ids != target.pad_id).long(), config), glosses
