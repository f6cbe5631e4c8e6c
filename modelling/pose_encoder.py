"""The light pose encoder: keypoints ``B×T×N×4`` -> an MLP per body part -> a temporal convolution -> features.

Keypoints come selected and centred (:mod:`dataset.keypoint_preprocessing`): each joint's x, y and
confidence (its z is left out: most extractors give none). ``parts`` says how many joints each
part holds, in the input's order; the default is the paper's 79-joint selection (face 16, hands
42, mouth 10, body 11), which the MediaPipe selection shares. Each part's joints go through their
own two-layer MLP (a hand's shape is not a face's), the parts' outputs are joined, and a temporal
convolution over the frames gives the features, one per frame (temporal stride 1). Padded frames
are zero in the output, so a sample's features do not depend on the batch it is in.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from core.config import positive
from modelling.encoders import register_encoder

PAPER_PARTS = (16, 42, 10, 11)  # the paper's 79 joints: face, hands, mouth, body
CHANNELS = 3  # x, y, confidence


def _mask(lengths: torch.Tensor, frames: int, device: torch.device) -> torch.Tensor:
    return (torch.arange(frames, device=device)[None, :] < lengths.to(device)[:, None]).float()


class PoseEncoder(nn.Module):
    """Per-part MLPs, then a temporal convolution: ``(B×T×N×4, lengths) -> (B×T×width, lengths)``."""

    temporal_stride = 1
    export_axes: ClassVar[dict[int, str]] = {0: "batch", 1: "frames"}

    def __init__(self, parts: tuple[int, ...], part_width: int, width: int, kernel: int = 5) -> None:
        super().__init__()
        self.parts, self.output_width = tuple(parts), width
        self.part_layers = nn.ModuleList(
            nn.Sequential(nn.Linear(joints * CHANNELS, part_width), nn.ReLU(), nn.Linear(part_width, part_width))
            for joints in self.parts
        )
        self.temporal = nn.Conv1d(part_width * len(self.parts), width, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(width)

    def forward(self, keypoints: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _, frames, joints, _ = keypoints.shape
        if joints != sum(self.parts):
            raise ValueError(f"the pose encoder takes {sum(self.parts)} joints ({self.parts}), not {joints}")
        mask = _mask(lengths, frames, keypoints.device)[..., None]
        points = keypoints[..., [0, 1, 3]] * mask[..., None]  # x, y, confidence; padding zero
        pieces, start = [], 0
        for count, layers in zip(self.parts, self.part_layers, strict=True):
            pieces.append(layers(points[:, :, start : start + count].flatten(2)))
            start += count
        joined = torch.cat(pieces, dim=-1) * mask  # padded frames give the convolution nothing
        features = torch.relu(self.norm(self.temporal(joined.transpose(1, 2)).transpose(1, 2)))
        return features * mask, lengths

    @staticmethod
    def example_input(lengths: list[int], joints: int, generator: torch.Generator) -> torch.Tensor:
        """Random keypoints ``B×max(lengths)×joints×4``, to trace and check an exported graph with."""
        return torch.randn(len(lengths), max(lengths), joints, 4, generator=generator)

    @contextmanager
    def exporting(self) -> Iterator[None]:
        """Nothing to change for export: the encoder holds no Python loop over time."""
        yield


@register_encoder("pose_mlp")
@dataclass
class PoseEncoderConfig:
    """``recognition.encoder`` of type ``pose_mlp``: the light pose encoder (see the module docstring)."""

    reads: ClassVar[str] = "keypoints"  # the input it takes (a task picks its input source by it)
    coordinates: ClassVar[str] = "shoulders"  # centred on the shoulders' midpoint, the shoulder width 1
    type: str = "pose_mlp"
    parts: list[int] = field(default_factory=lambda: list(PAPER_PARTS), metadata={"architecture": True})
    part_width: int = positive(64, architecture=True)
    width: int = positive(256, architecture=True)
    kernel: int = positive(5, architecture=True)

    def __post_init__(self) -> None:
        if not self.parts or any(not isinstance(n, int) or n < 1 for n in self.parts):
            raise ValueError("parts: expected a list of joint counts, each at least 1")
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel: {self.kernel} must be odd (the features keep the frames' count)")

    def build(self, pretrained: bool) -> PoseEncoder:
        return PoseEncoder(tuple(self.parts), self.part_width, self.width, self.kernel)

    def output_width(self) -> int:
        return self.width

    def checkpoint_metadata(self) -> dict:
        return {"encoder": "pose_mlp", "parts": list(self.parts), "width": self.width}
