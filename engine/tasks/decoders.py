"""The decoders of the stages: network outputs to gloss strings and sentences."""

from __future__ import annotations

import torch

from core.vocabulary import GlossVocabulary
from dataset.annotations import normalise_text
from modelling.ctc_decoding import CTCBeamSearch
from modelling.recognition import RecognitionOutput


class GlossDecoder:
    """CTC beam search over a recognition output, to gloss ids and gloss strings."""

    def __init__(self, vocab: GlossVocabulary, beam_size: int) -> None:
        self.vocab, self.search = vocab, CTCBeamSearch(beam_size)

    def ids(self, recognition: RecognitionOutput) -> list[list[int]]:
        return self.search.decode(recognition.log_probs, recognition.lengths)

    def __call__(self, recognition: RecognitionOutput) -> list[str]:
        return [self.vocab.decode(ids) for ids in self.ids(recognition)]


class TextDecoder:
    """Generated token ids to sentences, normalised as the references are at ``level`` (word or char).

    ``split_final_stop``: a sentence ending ``x.`` becomes ``x .`` (the paper's code, for German).
    """

    def __init__(self, tokenizer, level: str, split_final_stop: bool = False) -> None:
        self.tokenizer, self.level, self.split_final_stop = tokenizer, level, split_final_stop

    def __call__(self, ids: torch.Tensor) -> list[str]:
        texts = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
        texts = [normalise_text(text, self.level, lowercase=False) for text in texts]
        return [split_final_stop(text) for text in texts] if self.split_final_stop else texts


def split_final_stop(text: str) -> str:
    """``"... x."`` -> ``"... x ."``; a sentence of two characters or fewer, or already split, as it is."""
    return text[:-1] + " ." if len(text) > 2 and text[-1] == "." and text[-2] != " " else text
