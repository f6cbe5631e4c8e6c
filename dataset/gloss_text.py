"""Gloss-to-text examples: encoding prepared samples into ids, and padding them into batches."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from core.vocabulary import GlossVocabulary
from dataset.annotations import Sample


@dataclass(frozen=True)
class GlossTextExample:
    """One sample's targets, encoded once: the translator's gloss input, text labels, CTC targets, references.

    The field names mean the same in every stage's examples: ``translator_input`` is
    ``ctc_targets`` (gloss ids, no specials) framed by the gloss vocabulary (``... </s> lang``);
    ``label_ids`` the text framed by the text tokenizer (``... </s> tgt_lang``); ``text`` the
    reference text and ``glosses`` the annotated gloss sequence.
    """

    name: str
    translator_input: list[int]
    label_ids: list[int]
    text: str
    num_unknown: int
    ctc_targets: list[int]
    glosses: str


@dataclass
class EncodedSplit:
    """Encoded examples of a split and counts of what encoding noticed or dropped."""

    examples: list  # GlossTextExample or VideoExample
    counts: Counter


def encode_samples(
    samples: list[Sample],
    vocab: GlossVocabulary,
    tokenizer,
    max_gloss_length: int,
    max_text_length: int,
    drop_too_long: bool,
) -> EncodedSplit:
    """Encode ``samples``; too-long ones are dropped (``drop_too_long``) or truncated, and counted."""
    labels = tokenizer(text_target=[s.text for s in samples])["input_ids"] if samples else []
    examples, counts = [], Counter()
    for sample, label_ids in zip(samples, labels, strict=True):
        num_glosses = len(sample.gloss.split())
        too_long = num_glosses > max_gloss_length or len(label_ids) > max_text_length
        if too_long:
            counts["too long"] += 1
            if drop_too_long:
                continue
            label_ids = label_ids[: max_text_length - 2] + label_ids[-2:]  # keeps the tokenizer's </s> tgt_lang
        encoded = vocab.encode(sample.gloss, max_gloss_length, framed=False)
        counts["unknown glosses"] += encoded.num_unknown
        counts["samples with unknown glosses"] += encoded.num_unknown > 0
        framed = vocab.frame(encoded.ids)
        examples.append(
            GlossTextExample(
                sample.name, framed, label_ids, sample.text, encoded.num_unknown, encoded.ids, sample.gloss
            )
        )
    return EncodedSplit(examples, counts)


def pad(sequences: list[list[int]], pad_id: int) -> torch.Tensor:
    """A ``len(sequences) x max_len`` tensor, right-padded with ``pad_id``."""
    width = max(len(s) for s in sequences)
    return torch.tensor([s + [pad_id] * (width - len(s)) for s in sequences], dtype=torch.long)


class GlossTextCollator:
    """Pads a list of examples into the translator's gloss input, its mask and the text labels."""

    def __init__(self, gloss_pad_id: int, text_pad_id: int) -> None:
        self.gloss_pad_id, self.text_pad_id = gloss_pad_id, text_pad_id

    def __call__(self, examples: list[GlossTextExample]) -> dict:
        gloss_ids = pad([e.translator_input for e in examples], self.gloss_pad_id)
        return {
            "names": [e.name for e in examples],
            "translator_input": gloss_ids,
            "translator_mask": (gloss_ids != self.gloss_pad_id).long(),
            "labels": pad([e.label_ids for e in examples], self.text_pad_id),
        }
