"""Encoders: the part of a recognition network that turns a sample's input into a feature sequence.

An encoder takes ``(inputs, lengths)`` (videos ``B×3×T×H×W``, keypoints ``B×T×J×C``, ...) with
valid lengths and returns features ``B×T'×output_width`` with their valid lengths, ``T'`` about
``T / temporal_stride``. Each kind registers its config dataclass under a ``type`` name in
:data:`ENCODERS` (``recognition.encoder.type`` in a config); the dataclass builds the encoder and
states its output width without building it (a network over stored features needs only that).

:class:`StoredFeatures` is the encoder of features an encoder computed earlier (extract_feature.py):
it passes them through.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from core.registry import Registry


@runtime_checkable
class Encoder(Protocol):
    """A module ``(inputs, lengths) -> (features B×T'×output_width, lengths)``."""

    output_width: int
    temporal_stride: int

    def __call__(self, inputs: Any, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class EncoderConfig(Protocol):
    """What a registered encoder's config dataclass offers beside its settings (one of them ``type``)."""

    type: str

    def build(self, pretrained: bool) -> nn.Module:
        """The encoder, with its pretrained weights when ``pretrained`` and the config names them."""

    def output_width(self) -> int:
        """The width of the features the encoder returns."""

    def checkpoint_metadata(self) -> dict:
        """What a checkpoint of a network with this encoder must agree on (its architecture)."""


ENCODERS: Registry[type] = Registry("encoder type")


def register_encoder(name: str):
    """Class decorator: register an encoder config dataclass (its ``type`` field defaults to ``name``)."""
    return ENCODERS.register(name)


class StoredFeatures(nn.Module):
    """Features an encoder computed apart (``B×T'×width``), passed through as they are."""

    temporal_stride = 1

    def __init__(self, width: int) -> None:
        super().__init__()
        self.output_width = width

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return features, lengths


def stored_features_of(config: EncoderConfig) -> StoredFeatures:
    """The pass-through of the features the encoder of ``config`` computed apart."""
    return StoredFeatures(config.output_width())
