"""The paper's two-stream network (TwoStream-SLT): a video S3D and a keypoint S3D that exchange activations.

Layout, as the paper's code builds it for its released S2G checkpoints (``S3D_two_stream_v2`` with
``fuse_method: triplehead_cat_bilateral``, ``pyramid: {version: v1, rgb: multi_head, pose:
multi_head, num_levels: 3}`` and ``cross_distillation``):

- **Streams**: S3D blocks 1-4 over the video (``B×3×T×2S×2S``) and over the keypoints' Gaussian
  heatmaps (one channel per joint, ``S×S``, see :mod:`modelling.pose_s3d`).
- **Lateral connections** after S3D layers 0, 3 and 6 (the ends of blocks 1-3), both ways, each
  from the activations before the exchange: keypoints -> video a ``ConvTranspose3d`` (kernel
  (7, 3, 3), stride (1, 2, 2): twice the size), video -> keypoints a ``Conv3d`` (same kernel and
  stride: half), no bias; each added to the other stream.
- **Pyramid** per stream over the ends of blocks 2, 3 and 4 (192, 480, 832 channels): top-down, each
  level plus the level above upsampled (a spatial then a temporal ``ConvTranspose3d``, each with
  batch norm and ReLU), then averaged over space.
- **Heads** (:class:`~modelling.visual_head.VisualHead`): one per stream on its top level, a fusion
  head on both top levels joined (keypoints first), and auxiliary heads on each stream's two lower
  levels.
- **Loss**: CTC of each head, the auxiliary heads' CTC weighted (``aux_weight_video`` 0.2,
  ``aux_weight_keypoints`` 0.5) into their stream's, and self-distillation: the KL divergence from
  the detached average of the three heads' probabilities to each head's (weight 1 each).
- **Output**: that average (its log) is what CTC beam search decodes; the fusion head's gloss
  features are what Sign2Text would read. Each head's own glosses are scored too (WER per head).

This toolkit's CTC terms are divided by each sample's gloss count (:func:`~modelling.recognition.ctc_loss`);
the distillation terms are too, so their weights keep the paper's balance. Their frames are the
valid ones only (the paper's batches of one have no padding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from core.config import fraction, in_range, input_path, one_of, positive, setting
from core.host_transfer import to_device
from modelling.encoders import register_encoder
from modelling.pose_s3d import PoseS3D
from modelling.recognition import CTCResult, RecognitionOutput, ctc_loss
from modelling.s3d import BLOCK_CHANNELS, BLOCK_END, BLOCK_TIME_STRIDE, S3DBackbone, load_kinetics_weights
from modelling.visual_head import VisualHead, valid_mask

LATERAL_LAYERS = tuple(BLOCK_END[b] - 1 for b in (1, 2, 3))  # the streams exchange after blocks 1-3: 0, 3, 6
LEVEL_BLOCKS = (2, 3, 4)  # the blocks whose outputs the pyramid and the heads read
LEVEL_LAYERS = tuple(BLOCK_END[b] - 1 for b in LEVEL_BLOCKS)  # their last S3D layers: 3, 6, 12
STREAMS = ("video", "keypoints")
HEADS = ("video", "keypoints", "fusion")


def lateral(channels: int, to_video: bool, kernel: tuple[int, int, int] = (7, 3, 3)) -> nn.Module:
    """A lateral connection: keypoints -> video doubles the size (``ConvTranspose3d``), video -> keypoints halves it."""
    stride, padding = (1, 2, 2), tuple(k // 2 for k in kernel)
    if to_video:
        conv = nn.ConvTranspose3d(channels, channels, kernel, stride, padding, output_padding=(0, 1, 1), bias=False)
    else:
        conv = nn.Conv3d(channels, channels, kernel, stride, padding, bias=False)
    nn.init.kaiming_normal_(conv.weight)
    return conv


def norm_relu(channels: int, momentum: float) -> nn.Sequential:
    return nn.Sequential(nn.BatchNorm3d(channels, eps=1e-3, momentum=momentum), nn.ReLU(inplace=True))


class TopDown(nn.Module):
    """One pyramid step: ``in_channels`` -> ``out_channels``, twice the size in space and ``time_scale`` in time."""

    def __init__(self, in_channels: int, out_channels: int, time_scale: int, momentum: float) -> None:
        super().__init__()
        self.spatial = nn.ConvTranspose3d(
            in_channels, out_channels, (1, 3, 3), (1, 2, 2), (0, 1, 1), output_padding=(0, 1, 1), bias=False
        )
        self.spatial_norm = norm_relu(out_channels, momentum)
        self.temporal = nn.ConvTranspose3d(
            out_channels, out_channels, (3, 1, 1), (time_scale, 1, 1), (1, 0, 0), (time_scale - 1, 0, 0), bias=False
        )
        self.temporal_norm = norm_relu(out_channels, momentum)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.temporal_norm(self.temporal(self.spatial_norm(self.spatial(x))))


class Pyramid(nn.Module):
    """Top-down over the levels (blocks 2-4): each level plus the one above upsampled; then averaged over space."""

    def __init__(self, momentum: float) -> None:
        super().__init__()
        channels = [BLOCK_CHANNELS[b] for b in reversed(LEVEL_BLOCKS)]  # 832, 480, 192
        scales = [BLOCK_TIME_STRIDE[b] // BLOCK_TIME_STRIDE[b - 1] for b in reversed(LEVEL_BLOCKS[1:])]
        self.steps = nn.ModuleList(
            TopDown(channels[i], channels[i + 1], scales[i], momentum) for i in range(len(channels) - 1)
        )

    def forward(self, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """``B×C×T×H×W`` levels, lowest first -> ``B×T×C`` levels, lowest first."""
        levels = list(levels)
        for step, upper in zip(self.steps, range(len(levels) - 1, 0, -1), strict=True):
            levels[upper - 1] = levels[upper - 1] + step(levels[upper])
        return [level.mean(dim=(3, 4)).transpose(1, 2) for level in levels]


@dataclass
class StreamLevels:
    """Each stream's pyramid levels (``B×T×C``, lowest first) and each level's valid lengths."""

    video: list[torch.Tensor]
    keypoints: list[torch.Tensor]
    lengths: list[torch.Tensor]


class TwoStreamBackbone(nn.Module):
    """Video and keypoint S3D (blocks 1-4) with lateral connections and a pyramid each.

    ``forward`` takes ``(videos B×3×T×2S×2S, keypoints B×T×N×4)`` (the keypoints frame-centred, in the
    video's crop) with valid frame counts; ``T`` is padded (the last frame repeated) to a multiple of 4.
    """

    def __init__(self, config: TwoStreamConfig) -> None:
        super().__init__()
        self.video = S3DBackbone(4, config.freeze_block, config.bn_momentum)
        self.keypoints = PoseS3D(
            config.joints,
            4,
            config.keypoint_freeze_block,
            config.bn_momentum,
            config.map_size,
            config.sigma,
            config.weight_by_confidence,
        )
        channels = [BLOCK_CHANNELS[b] for b in (1, 2, 3)]
        kernel = tuple(config.lateral_kernel)
        to_video, to_keypoints = config.lateral_to_video, config.lateral_to_keypoints
        self.to_video = nn.ModuleList(lateral(c, True, kernel) for c in channels) if to_video else None
        self.to_keypoints = nn.ModuleList(lateral(c, False, kernel) for c in channels) if to_keypoints else None
        self.video_pyramid, self.keypoint_pyramid = Pyramid(config.bn_momentum), Pyramid(config.bn_momentum)
        self.level_widths = [BLOCK_CHANNELS[b] for b in LEVEL_BLOCKS]

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor], lengths: torch.Tensor) -> StreamLevels:
        videos, keypoints = inputs
        x, y = _padded_in_time(videos, 2), self.keypoints.heatmaps(_padded_in_time(keypoints, 1))
        video_levels, keypoint_levels = [], []
        for index, (video_layer, keypoint_layer) in enumerate(
            zip(self.video.features, self.keypoints.backbone.features, strict=True)
        ):
            x, y = video_layer(x), keypoint_layer(y)
            if index in LATERAL_LAYERS:
                slot = LATERAL_LAYERS.index(index)
                exchanged_x = x + self.to_video[slot](y) if self.to_video is not None else x
                y = y + self.to_keypoints[slot](x) if self.to_keypoints is not None else y
                x = exchanged_x
            if index in LEVEL_LAYERS:
                video_levels.append(x)
                keypoint_levels.append(y)
        video_levels, keypoint_levels = self.video_pyramid(video_levels), self.keypoint_pyramid(keypoint_levels)
        level_lengths = [
            torch.clamp(_ceil_div(lengths, BLOCK_TIME_STRIDE[b]), max=level.shape[1])
            for b, level in zip(LEVEL_BLOCKS, video_levels, strict=True)
        ]
        return StreamLevels(video_levels, keypoint_levels, level_lengths)


def _padded_in_time(x: torch.Tensor, axis: int) -> torch.Tensor:
    """``x`` with its last frame along ``axis`` repeated up to a multiple of 4 frames (the pyramid's time stride)."""
    missing = -x.shape[axis] % 4
    if not missing:
        return x
    last = x.narrow(axis, x.shape[axis] - 1, 1)
    return torch.cat([x, *[last] * missing], dim=axis)


def _ceil_div(lengths: torch.Tensor, stride: int) -> torch.Tensor:
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


@dataclass
class TwoStreamOutput(RecognitionOutput):
    """The ensemble's log-probabilities (``log_probs``), the fusion head's gloss features, and for the loss and
    the per-head scores: each head's log-probabilities, the auxiliary heads' (stream, log-probabilities,
    lengths), and the loss weights."""

    heads: dict[str, torch.Tensor] = field(default_factory=dict)
    aux: list[tuple[str, torch.Tensor, torch.Tensor]] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)

    def training_loss(self, targets: list[list[int]]) -> tuple[CTCResult, dict[str, torch.Tensor]]:
        """CTC of every head (auxiliary ones weighted) plus self-distillation; the parts for the log."""
        results = {name: ctc_loss(log_probs, self.lengths, targets) for name, log_probs in self.heads.items()}
        parts = {f"ctc_{name}": result.loss for name, result in results.items()}
        for stream, log_probs, lengths in self.aux:
            parts[f"ctc_{stream}"] = (
                parts[f"ctc_{stream}"] + self.weights[stream] * ctc_loss(log_probs, lengths, targets).loss
            )
        teacher = self.log_probs.detach().exp()
        gloss_counts = to_device(torch.tensor([max(len(t), 1) for t in targets]), teacher.device)
        mask = valid_mask(to_device(self.lengths, teacher.device), teacher.shape[1])
        parts["distillation"] = self.weights["distillation"] * sum(
            _distillation(teacher, log_probs, mask, gloss_counts) for log_probs in self.heads.values()
        )
        total = sum(parts.values())
        return CTCResult(total, results["fusion"].num_infeasible), parts


def _distillation(
    teacher: torch.Tensor, student_log_probs: torch.Tensor, mask: torch.Tensor, gloss_counts: torch.Tensor
) -> torch.Tensor:
    """KL(teacher || student) summed over the valid frames of each sample, divided by its gloss count, averaged."""
    kl = F.kl_div(student_log_probs.float(), teacher.float(), reduction="none").sum(dim=-1)
    return ((kl * mask).sum(dim=1) / gloss_counts).mean()


class TwoStreamSignToGloss(nn.Module):
    """:class:`TwoStreamBackbone`, then a visual head per stream, a fusion head and two auxiliary heads per stream."""

    def __init__(
        self,
        encoder: TwoStreamBackbone,
        heads: dict[str, VisualHead],
        aux_heads: dict[str, list[VisualHead]],
        weights: dict[str, float],
    ) -> None:
        super().__init__()
        self.encoder, self.weights = encoder, weights
        self.heads = nn.ModuleDict(heads)
        self.aux_heads = nn.ModuleDict({stream: nn.ModuleList(aux_heads[stream]) for stream in STREAMS})

    def forward(self, inputs: tuple[torch.Tensor, torch.Tensor], lengths: torch.Tensor) -> TwoStreamOutput:
        levels = self.encoder(inputs, lengths)
        top, top_lengths = {"video": levels.video[-1], "keypoints": levels.keypoints[-1]}, levels.lengths[-1]
        top["fusion"] = torch.cat([top["keypoints"], top["video"]], dim=-1)
        features, log_probs = {}, {}
        for name in HEADS:
            features[name], logits = self.heads[name](top[name], top_lengths)
            log_probs[name] = logits.float().log_softmax(dim=-1)
        aux = []
        for stream in STREAMS:
            for head, level, level_lengths in zip(
                self.aux_heads[stream], getattr(levels, stream), levels.lengths, strict=False
            ):
                aux.append((stream, head(level, level_lengths)[1].float().log_softmax(dim=-1), level_lengths))
        ensemble = torch.logsumexp(torch.stack(list(log_probs.values())), dim=0) - math.log(len(HEADS))
        return TwoStreamOutput(features["fusion"], ensemble, top_lengths, log_probs, aux, self.weights)


@register_encoder("two_stream")
@dataclass
class TwoStreamConfig:
    """``recognition.encoder`` of type ``two_stream``: the paper's two-stream network over videos and keypoints.

    The video is ``data.video.img_size`` square and the heatmaps ``map_size``, half of it (the
    paper: 224 and 112, σ 8 pixels of the 260×210 frame). ``weights``: Kinetics-400 S3D weights
    for the video stream; ``video_run``, ``keypoint_run``: single-stream S2G runs to start the streams
    and their heads from. ``freeze_block``/``keypoint_freeze_block``: frozen blocks of each stream
    (the paper: 1 and 0).
    """

    reads: ClassVar[str] = "video+keypoints"
    coordinates: ClassVar[str] = "frame"
    type: str = "two_stream"
    weights: str | None = input_path()
    # S2G runs (s3d; pose_s3d) whose encoder and visual head start the video (keypoint) stream and its head in a
    # new run, as the paper starts from its single-stream runs (pretrained_path_rgb, pretrained_path_keypoint)
    video_run: str | None = input_path()
    keypoint_run: str | None = input_path()
    joints: int = positive(79, architecture=True)
    map_size: int = in_range(112, low=16)
    sigma: float = in_range(3.4, above=0)
    weight_by_confidence: bool = True  # as pose_s3d's (false: the paper's code)
    freeze_block: int = one_of(1, (0, 1, 2, 3, 4))
    keypoint_freeze_block: int = one_of(0, (0, 1, 2, 3, 4))
    bn_momentum: float = fraction(0.001)
    lateral_to_video: bool = setting(True, architecture=True)
    lateral_to_keypoints: bool = setting(True, architecture=True)
    # the paper's (its lateral.kernel_size); smaller kernels are far cheaper (those at 480 channels dominate)
    lateral_kernel: list[int] = field(
        default_factory=lambda: [7, 3, 3], metadata={"architecture": True, "must_exist": False}
    )
    aux_weight_video: float = in_range(0.2, low=0)
    aux_weight_keypoints: float = in_range(0.5, low=0)
    distillation: float = in_range(1.0, low=0)

    def __post_init__(self) -> None:
        if len(self.lateral_kernel) != 3 or any(k < 1 or k % 2 == 0 for k in self.lateral_kernel):
            raise ValueError(
                f"lateral_kernel: expected three odd sizes (time, height, width), got {self.lateral_kernel}"
            )
        if self.map_size % 16:
            raise ValueError(f"map_size ({self.map_size}) must be a multiple of 16 (the pyramid halves it four times)")

    def build(self, pretrained: bool) -> TwoStreamBackbone:
        backbone = TwoStreamBackbone(self)
        if pretrained and self.weights:
            load_kinetics_weights(backbone.video, self.weights)
        return backbone

    def output_width(self) -> int:
        return BLOCK_CHANNELS[4]

    def loss_weights(self) -> dict[str, float]:
        return {
            "video": self.aux_weight_video,
            "keypoints": self.aux_weight_keypoints,
            "distillation": self.distillation,
        }

    def checkpoint_metadata(self) -> dict:
        lateral = {"to_video": self.lateral_to_video, "to_keypoints": self.lateral_to_keypoints}
        lateral["kernel"] = list(self.lateral_kernel)
        return {"encoder": "two_stream", "joints": self.joints, "lateral": lateral}
