"""Sign2Text examples over extracted S3D features: features, CTC gloss targets, text labels, references."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from dataset.feature_store import FeatureStoreError
from dataset.gloss_text import EncodedSplit, GlossTextExample, pad


@dataclass(frozen=True)
class FeatureTextExample:
    """One sample: its features (T×C), gloss ids (CTC targets, no specials), label ids and references."""

    name: str
    features: torch.Tensor
    gloss_ids: list[int]
    label_ids: list[int]
    reference: str
    gloss_reference: str


def attach_features(
    encoded: EncodedSplit, glosses: dict[str, str], features: dict[str, torch.Tensor], split: str, skip_missing: bool
) -> EncodedSplit:
    """Pair gloss-text examples with their stored features; samples without features are counted or an error."""
    missing = [e.name for e in encoded.examples if e.name not in features]
    if missing and not skip_missing:
        raise FeatureStoreError(
            f"{split}: no extracted features for {len(missing)} sample(s), e.g. {missing[0]} (run extract_feature.py)"
        )
    examples = [_with_features(e, features[e.name], glosses[e.name]) for e in encoded.examples if e.name in features]
    counts = encoded.counts + Counter({"samples without features": len(missing)})
    return EncodedSplit(examples, counts)


def _with_features(example: GlossTextExample, features: torch.Tensor, gloss: str) -> FeatureTextExample:
    targets = example.gloss_ids[:-2]  # no </s> and language code
    return FeatureTextExample(example.name, features, targets, example.label_ids, example.reference, gloss)


class FeatureTextCollator:
    """Pads features (B×T×C, zeros), gloss targets and labels of a list of examples."""

    def __init__(self, text_pad_id: int) -> None:
        self.text_pad_id = text_pad_id

    def __call__(self, examples: list[FeatureTextExample]) -> dict:
        lengths = torch.tensor([len(e.features) for e in examples], dtype=torch.long)
        features = torch.zeros(len(examples), int(lengths.max()), examples[0].features.shape[1])
        for row, example in enumerate(examples):
            features[row, : len(example.features)] = example.features.float()
        return {
            "names": [e.name for e in examples],
            "features": features,
            "lengths": lengths,
            "targets": [e.gloss_ids for e in examples],
            "labels": pad([e.label_ids for e in examples], self.text_pad_id),
        }
