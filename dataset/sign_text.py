"""Sign2Text examples over extracted S3D features: features, CTC gloss targets, text labels, references."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from dataset.batching import example_fields, pad_in_time
from dataset.feature_store import FeatureStoreError
from dataset.gloss_text import EncodedSplit, GlossTextExample


@dataclass(frozen=True)
class FeatureTextExample:
    """One sample: features (T×C), CTC targets (gloss ids, no specials), label ids, reference glosses and text.

    The field names mean what they mean in :class:`dataset.gloss_text.GlossTextExample`.
    """

    name: str
    features: torch.Tensor
    ctc_targets: list[int]
    label_ids: list[int]
    glosses: str
    text: str


def attach_features(
    encoded: EncodedSplit, features: dict[str, torch.Tensor], split: str, skip_missing: bool
) -> EncodedSplit:
    """Pair gloss-text examples with their stored features; samples without features are counted or an error."""
    missing = [e.name for e in encoded.examples if e.name not in features]
    if missing and not skip_missing:
        raise FeatureStoreError(
            f"{split}: no extracted features for {len(missing)} sample(s), e.g. {missing[0]} (run extract_feature.py)"
        )
    examples = [_with_features(e, features[e.name]) for e in encoded.examples if e.name in features]
    counts = encoded.counts + Counter({"samples without features": len(missing)})
    return EncodedSplit(examples, counts)


def _with_features(example: GlossTextExample, features: torch.Tensor) -> FeatureTextExample:
    return FeatureTextExample(
        example.name, features, example.ctc_targets, example.label_ids, example.glosses, example.text
    )


def collate_features(examples: list[FeatureTextExample]) -> dict:
    """Features padded with zeros (B×T×C) and their lengths, CTC targets and label ids of the examples."""
    features, lengths = pad_in_time([e.features for e in examples])
    return {**example_fields(examples), "features": features, "lengths": lengths}
