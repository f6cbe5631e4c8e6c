"""The paper's keypoint S3D: keypoints -> Gaussian heatmaps (one map per joint, made on the device) -> S3D.

TwoStream-SLT's pose stream reads the 79 selected joints as 79 heatmap channels of an S3D (its
``S3D_backbone`` with ``in_channel`` 79). :func:`gaussian_heatmaps` is its ``gen_gaussian_hmap_op``
(``exp(-d² / 2σ²)`` on a pixel grid, optionally weighted by confidence). :class:`PoseS3D` takes the
keypoints as the keypoint input gives this encoder (``coordinates: frame``: x and y as fractions of
the frame, centred on its middle, in [-0.5, 0.5]), draws each joint's map on a ``map_size`` square
(weighted by its confidence: a joint not found, confidence 0, draws nothing; or, as the paper's
code, at full strength), scales the maps to [-1, 1] as the paper's code does, and runs S3D blocks
1..``use_block`` over them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from core.config import fraction, in_range, one_of, positive
from modelling.encoders import register_encoder
from modelling.s3d import BLOCK_CHANNELS, S3DBackbone


def gaussian_heatmaps(
    points: np.ndarray | torch.Tensor,
    frame_size: tuple[int, int],
    map_size: tuple[int, int] | None = None,
    sigma: float = 8.0,
    confidence_threshold: float | None = None,
) -> torch.Tensor:
    """``T×N×H×W`` heatmaps of pixel keypoints (``T×N×≥2``, x then y): ``exp(-d² / 2σ²)`` around each joint on
    the frame's pixel grid, or on a ``map_size`` grid with the coordinates scaled to it (the paper's
    ``gen_gaussian_hmap_op``; PHOENIX-2014T: the 260×210 frame, σ 8). ``confidence_threshold``: each map
    weighted by its joint's confidence, zero at or below the threshold (the paper's ``confidence``)."""
    points = torch.as_tensor(points, dtype=torch.float32)
    frame_h, frame_w = frame_size
    map_h, map_w = map_size or frame_size
    y = points[..., 1] * (map_h / frame_h)
    x = points[..., 0] * (map_w / frame_w)
    rows = torch.arange(map_h, dtype=torch.float32, device=points.device)
    columns = torch.arange(map_w, dtype=torch.float32, device=points.device)
    # exp(-(dy² + dx²) / 2σ²) as the product of a row and a column factor: one exp per row and column
    along_y = torch.exp(-((rows - y[..., None]) ** 2) / (2 * sigma**2))
    along_x = torch.exp(-((columns - x[..., None]) ** 2) / (2 * sigma**2))
    maps = along_y[..., :, None] * along_x[..., None, :]
    if confidence_threshold is not None:
        confidence = points[..., -1]
        maps = maps * torch.where(confidence > confidence_threshold, confidence, 0.0)[..., None, None]
    return maps


class PoseS3D(nn.Module):
    """Heatmaps of frame-centred keypoints ``B×T×N×4`` (``map_size`` square, σ ``sigma`` map pixels) -> S3D."""

    export_axes: ClassVar[dict[int, str]] = {0: "batch", 1: "frames"}

    def __init__(
        self,
        joints: int,
        use_block: int,
        freeze_block: int,
        bn_momentum: float,
        map_size: int,
        sigma: float,
        weight_by_confidence: bool = True,
    ) -> None:
        super().__init__()
        self.map_size, self.sigma, self.weight_by_confidence = map_size, sigma, weight_by_confidence
        self.backbone = S3DBackbone(use_block, freeze_block, bn_momentum, in_channels=joints)
        self.output_width, self.temporal_stride = self.backbone.output_width, self.backbone.temporal_stride

    def heatmaps(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``B×N×T×S×S`` maps of the joints (x, y in [-0.5, 0.5] of the frame), confidence-weighted (unless not
        ``weight_by_confidence``: the paper's code draws every joint at full strength), then scaled from [0, 1]
        to [-1, 1] as the paper's code normalises its maps (``(m - 0.5) / 0.5``)."""
        pixels = keypoints.clone()
        pixels[..., :2] = (keypoints[..., :2] + 0.5) * self.map_size  # as the paper scales pixels to its map
        threshold = 0.0 if self.weight_by_confidence else None
        maps = gaussian_heatmaps(pixels, (self.map_size,) * 2, sigma=self.sigma, confidence_threshold=threshold)
        return (maps.permute(0, 2, 1, 3, 4) - 0.5) / 0.5

    def forward(self, keypoints: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.backbone(self.heatmaps(keypoints), lengths)

    @staticmethod
    def example_input(lengths: list[int], joints: int, generator: torch.Generator) -> torch.Tensor:
        """Random frame-centred keypoints ``B×max(lengths)×joints×4``, to trace an exported graph with."""
        return torch.rand(len(lengths), max(lengths), joints, 4, generator=generator) - 0.5

    @contextmanager
    def exporting(self) -> Iterator[None]:
        with self.backbone.exporting():
            yield


@register_encoder("pose_s3d")
@dataclass
class PoseS3DConfig:
    """``recognition.encoder`` of type ``pose_s3d``: the paper's keypoint S3D over heatmaps of the joints.

    The paper: 79 joints, S3D blocks 1-4, 112-pixel maps of σ 8 pixels of the 260×210 frame
    (about 3.4 of the map's).
    """

    reads: ClassVar[str] = "keypoints"  # the input it takes (a task picks its input source by it)
    coordinates: ClassVar[str] = "frame"  # x, y as fractions of the frame, centred on its middle
    type: str = "pose_s3d"
    joints: int = positive(79, architecture=True)
    use_block: int = one_of(4, (1, 2, 3, 4, 5), architecture=True)
    freeze_block: int = one_of(0, (0, 1, 2, 3, 4, 5))
    bn_momentum: float = fraction(0.1)
    map_size: int = in_range(112, low=8)
    sigma: float = in_range(3.4, above=0)
    # false: every joint drawn at full strength whatever its confidence (the paper's code); true: each map
    # weighted by its joint's confidence, a joint not found (confidence 0) drawing nothing
    weight_by_confidence: bool = True

    def __post_init__(self) -> None:
        if self.freeze_block > self.use_block:
            raise ValueError(f"freeze_block ({self.freeze_block}) is above use_block ({self.use_block})")

    def build(self, pretrained: bool) -> PoseS3D:
        return PoseS3D(
            self.joints,
            self.use_block,
            self.freeze_block,
            self.bn_momentum,
            self.map_size,
            self.sigma,
            self.weight_by_confidence,
        )

    def output_width(self) -> int:
        return BLOCK_CHANNELS[self.use_block]

    def checkpoint_metadata(self) -> dict:
        return {"encoder": "pose_s3d", "joints": self.joints, "use_block": self.use_block}
