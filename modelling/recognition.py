"""Sign2Gloss network and its CTC loss: S3D (or precomputed S3D features) -> visual head -> CTC."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from core.host_transfer import to_device
from modelling.ctc_decoding import BLANK
from modelling.s3d import S3DBackbone
from modelling.visual_head import VisualHead


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


class SignToGloss(nn.Module):
    """Videos (with ``backbone``) or S3D features (without) -> visual head -> gloss log-probabilities."""

    def __init__(self, head: VisualHead, backbone: S3DBackbone | None = None) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, inputs: torch.Tensor, lengths: torch.Tensor) -> RecognitionOutput:
        """``inputs``: videos B×3×T×H×W with frame counts, or S3D features B×T'×C with feature counts.

        Features skip the backbone, so a network with one takes features computed apart too. The
        counts are best given on the host: the output's lengths are then there too, where CTC and
        decoding read them without waiting for the device.
        """
        if self.backbone is not None and inputs.dim() == 5:
            inputs, lengths = self.backbone(inputs, lengths)
        gloss_features, logits = self.head(inputs, lengths)
        return RecognitionOutput(gloss_features, logits.log_softmax(dim=-1), lengths)
