"""The Sign2Gloss network, its config section and its CTC loss: an encoder -> visual head -> CTC."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from core.config import in_range, one_of, positive, registered
from core.host_transfer import to_device
from modelling.ctc_decoding import BLANK
from modelling.encoders import ENCODERS
from modelling.pose_encoder import PoseEncoderConfig  # noqa: F401  (registers the pose_mlp encoder)
from modelling.pose_s3d import PoseS3DConfig  # noqa: F401  (registers the pose_s3d encoder)
from modelling.s3d import S3DEncoderConfig
from modelling.visual_head import HEAD_VARIANTS, VisualHead


def min_ctc_frames(target: list[int]) -> int:
    """Frames CTC needs for ``target``: one per gloss plus a blank between equal neighbours."""
    return len(target) + sum(a == b for a, b in pairwise(target))


@dataclass
class CTCResult:
    """Mean CTC loss over feasible samples and how many samples were too short for their glosses."""

    loss: torch.Tensor
    num_infeasible: int


def ctc_loss(log_probs: torch.Tensor, lengths: torch.Tensor, targets: list[list[int]]) -> CTCResult:
    """CTC (blank 0) of B×T×K ``log_probs`` over valid ``lengths``; each loss divided by its target length.

    Samples whose valid length is shorter than :func:`min_ctc_frames` have infinite loss; they
    contribute zero (``zero_infinity``) and are counted.
    """
    target_lengths = torch.tensor([len(t) for t in targets], dtype=torch.long)
    flat = to_device(torch.tensor([g for t in targets for g in t], dtype=torch.long), log_probs.device)
    losses = F.ctc_loss(
        log_probs.transpose(0, 1).float(),
        flat,
        lengths.cpu(),
        target_lengths,
        blank=BLANK,
        reduction="none",
        zero_infinity=True,
    )
    infeasible = sum(int(n) < min_ctc_frames(t) for n, t in zip(lengths.tolist(), targets, strict=True))
    loss = (losses / to_device(target_lengths.clamp(min=1), losses.device)).mean()
    return CTCResult(loss, infeasible)


@dataclass
class RecognitionOutput:
    """Gloss features (B×T'×hidden), gloss log-probabilities (B×T'×K) and valid lengths (where the input's were)."""

    gloss_features: torch.Tensor
    log_probs: torch.Tensor
    lengths: torch.Tensor

    def training_loss(self, targets: list[list[int]]) -> tuple[CTCResult, dict[str, torch.Tensor]]:
        """The CTC loss of ``targets`` (gloss ids per sample), and the loss's parts for the log (none here)."""
        return ctc_loss(self.log_probs, self.lengths, targets), {}


LEGACY_ENCODER_KEYS = {
    "s3d_weights": "weights",
    "use_block": "use_block",
    "freeze_block": "freeze_block",
    "bn_momentum": "bn_momentum",
}


@dataclass
class RecognitionConfig:
    """The ``recognition`` section: the encoder, the visual head over it, CTC decoding and WER scoring."""

    encoder: Any = registered(ENCODERS, default=S3DEncoderConfig)
    # toolkit: this toolkit's visual head; paper: the paper code's (a LayerNorm before the temporal
    # convolutions, LayerNorm eps 1e-6; TwoStreamNetwork modelling/Visualhead.py), for its weights
    head_variant: str = one_of("toolkit", HEAD_VARIANTS, architecture=True)
    hidden_dim: int = positive(512, architecture=True)
    ff_dim: int = positive(2048, architecture=True)
    dropout: float = in_range(0.1, low=0, high=0.99)
    beam_size: int = positive(5)
    # paper-phoenix-2014t: as the paper's code scores its lower-case glosses (upper-cased, then cleaned up)
    wer_cleanup: str = one_of("none", ("none", "phoenix-2014t", "paper-phoenix-2014t"))
    batch_size: int = positive(8)

    @staticmethod
    def upgrade_keys(raw: dict) -> None:
        """Configs before encoders were plug-ins held the S3D keys here: they move into ``encoder``."""
        legacy = [key for key in LEGACY_ENCODER_KEYS if key in raw]
        if legacy and not isinstance(raw.setdefault("encoder", {}), dict):
            return  # not a mapping: validation names it
        for key in legacy:
            name, value = LEGACY_ENCODER_KEYS[key], raw.pop(key)
            if raw["encoder"].setdefault(name, value) != value:
                raise ValueError(f"recognition.{key} and recognition.encoder.{name} disagree: give the second only")


class SignToGloss(nn.Module):
    """An encoder (S3D on videos, a pass-through on stored features, ...) then the visual head: gloss log-probabilities.

    State dicts of the networks before encoders were plug-ins name the encoder ``backbone.``: they
    load as they are; so do learning rates a config sets for ``backbone``.
    """

    renamed_modules: ClassVar[dict[str, str]] = {"backbone": "encoder"}  # old name -> name

    def __init__(self, encoder: nn.Module, head: VisualHead) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)

    def forward(self, inputs: Any, lengths: torch.Tensor) -> RecognitionOutput:
        """``inputs`` as the encoder takes them, with their valid lengths (best on the host: the output's
        lengths are then there too, where CTC and decoding read them without waiting for the device)."""
        return self.recognise(*self.encoder(inputs, lengths))

    def recognise(self, features: torch.Tensor, lengths: torch.Tensor) -> RecognitionOutput:
        """The visual head over features the encoder computed (B×T'×C) and their valid lengths."""
        gloss_features, logits = self.head(features, lengths)
        return RecognitionOutput(gloss_features, logits.log_softmax(dim=-1), lengths)


def legacy_to_current(state: dict, prefix: str = "") -> dict:
    """``state`` with a network's encoder entries under ``{prefix}encoder.`` where older networks had ``backbone.``."""
    old = f"{prefix}backbone."
    return {f"{prefix}encoder.{key[len(old) :]}" if key.startswith(old) else key: value for key, value in state.items()}


def _rename_legacy_keys(module: nn.Module, state: dict, prefix: str, *args: Any) -> None:
    renamed = legacy_to_current(state, prefix)
    if renamed.keys() != state.keys():
        state.clear()
        state.update(renamed)
