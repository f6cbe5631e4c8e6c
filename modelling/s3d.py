"""S3D video backbone with torchvision's parameter names (torchvision itself is not needed).

torchvision's ``s3d`` keeps its layers in ``features`` (a ``Sequential`` of 16 modules). Blocks as
used by the paper: block 1 = ``features[0]`` (64 channels, T/2), block 2 = ``features[1:4]``
(192), block 3 = ``features[4:7]`` (480), block 4 = ``features[7:13]`` (832, T/4), block 5 =
``features[13:16]`` (1024, T/8). A state dict in torchvision's layout (e.g. the Kinetics-400
weights) loads into :class:`S3DBackbone` after :func:`select_backbone_weights` drops the layers
beyond ``use_block`` and the classifier.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from core.config import fraction, input_path, one_of
from core.errors import ToolkitError
from modelling.encoders import register_encoder

BLOCK_END = {1: 1, 2: 4, 3: 7, 4: 13, 5: 16}
BLOCK_CHANNELS = {1: 64, 2: 192, 3: 480, 4: 832, 5: 1024}
BLOCK_TIME_STRIDE = {1: 2, 2: 2, 3: 2, 4: 4, 5: 8}
# SepInceptionBlock3D arguments: in, branch0, branch1 (mid, out), branch2 (mid, out), branch3
INCEPTION = {
    5: (192, 64, 96, 128, 16, 32, 32),
    6: (256, 128, 128, 192, 32, 96, 64),
    8: (480, 192, 96, 208, 16, 48, 64),
    9: (512, 160, 112, 224, 24, 64, 64),
    10: (512, 128, 128, 256, 24, 64, 64),
    11: (512, 112, 144, 288, 32, 64, 64),
    12: (528, 256, 160, 320, 32, 128, 128),
    14: (832, 256, 160, 320, 32, 128, 128),
    15: (832, 384, 192, 384, 48, 128, 128),
}


class BackboneError(ToolkitError):
    """Backbone weights that are missing or do not fit."""


def conv_bn_relu(
    in_planes: int, out_planes: int, kernel: tuple[int, int, int], stride: tuple[int, int, int] = (1, 1, 1)
) -> nn.Sequential:
    """torchvision's ``Conv3dNormActivation``: Conv3d (no bias, same padding), BatchNorm3d, ReLU."""
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(in_planes, out_planes, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(out_planes, eps=1e-3, momentum=1e-3),
        nn.ReLU(inplace=True),
    )


class FoldedBatchNorm(nn.Identity):
    """Where a batch norm was before :func:`fold_batch_norms` folded it into the convolution before it."""

    def train(self, mode: bool = True) -> FoldedBatchNorm:
        if mode:
            raise BackboneError("S3D with batch norms folded into its convolutions is for inference: not trainable")
        return super().train(False)


def fold_batch_norms(model: nn.Module) -> nn.Module:
    """``model`` with each S3D convolution's batch norm folded into the convolution, in place, for inference.

    An eval-mode batch norm is an affine map per channel, so convolution then norm is one convolution
    with scaled weights and a bias: the same outputs up to rounding, one pass less over every
    activation (S3D blocks 1-4 and the head on 250 frames at 224 px, 2-core CPU: 6.49 instead of
    7.68 s, ``benchmarks/s3d_inference.py``). The model is left in eval mode; putting it back in
    training mode raises :class:`BackboneError`.
    """
    model.eval()
    units = [m for m in model.modules() if isinstance(m, nn.Sequential) and len(m) == 3]
    for unit in units:
        if isinstance(unit[0], nn.Conv3d) and isinstance(unit[1], nn.BatchNorm3d):
            unit[0], unit[1] = fuse_conv_bn_eval(unit[0], unit[1]), FoldedBatchNorm()
    return model


def separable_conv(in_planes: int, out_planes: int, kernel: int, stride: int) -> nn.Sequential:
    """A k×k spatial convolution followed by a k×1×1 temporal one (torchvision's TemporalSeparableConv)."""
    return nn.Sequential(
        conv_bn_relu(in_planes, out_planes, (1, kernel, kernel), (1, stride, stride)),
        conv_bn_relu(out_planes, out_planes, (kernel, 1, 1), (stride, 1, 1)),
    )


class SepInceptionBlock3D(nn.Module):
    """Four branches (1×1; 1×1 → separable 3×3×3, twice; max-pool → 1×1) concatenated on channels."""

    def __init__(self, in_planes: int, b0: int, b1_mid: int, b1: int, b2_mid: int, b2: int, b3: int) -> None:
        super().__init__()
        self.branch0 = conv_bn_relu(in_planes, b0, (1, 1, 1))
        self.branch1 = nn.Sequential(conv_bn_relu(in_planes, b1_mid, (1, 1, 1)), separable_conv(b1_mid, b1, 3, 1))
        self.branch2 = nn.Sequential(conv_bn_relu(in_planes, b2_mid, (1, 1, 1)), separable_conv(b2_mid, b2, 3, 1))
        self.branch3 = nn.Sequential(
            nn.MaxPool3d(kernel_size=3, stride=1, padding=1), conv_bn_relu(in_planes, b3, (1, 1, 1))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)


def s3d_layers(count: int, in_channels: int = 3) -> list[nn.Module]:
    """The first ``count`` modules of torchvision's ``S3D.features`` (its first convolution over ``in_channels``)."""
    layers: list[nn.Module] = []
    for index in range(count):
        if index in INCEPTION:
            layers.append(SepInceptionBlock3D(*INCEPTION[index]))
        elif index == 0:
            layers.append(separable_conv(in_channels, 64, 7, 2))
        elif index in (1, 4):
            layers.append(nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)))
        elif index == 2:
            layers.append(conv_bn_relu(64, 64, (1, 1, 1)))
        elif index == 3:
            layers.append(separable_conv(64, 192, 3, 1))
        elif index == 7:
            layers.append(nn.MaxPool3d(kernel_size=3, stride=2, padding=1))
        elif index == 13:
            layers.append(nn.MaxPool3d(kernel_size=2, stride=2))
    return layers


class S3DBackbone(nn.Module):
    """S3D blocks 1..``use_block``; blocks 1..``freeze_block`` are frozen and kept in eval mode.

    ``forward`` takes videos ``B×3×T×H×W`` (``in_channels`` maps: the paper's keypoint S3D takes 79 heatmaps)
    with valid frame counts and returns spatially averaged
    features ``B×T'×C`` and their valid lengths (T' = ceil(T / time stride)). ``bn_momentum``
    defaults to torchvision's 0.001, right for fine-tuning Kinetics statistics; training from a
    random start needs a faster one (e.g. 0.1) for the running statistics to catch up.
    """

    def __init__(
        self, use_block: int = 4, freeze_block: int = 0, bn_momentum: float = 1e-3, in_channels: int = 3
    ) -> None:
        super().__init__()
        if use_block not in BLOCK_END or not 0 <= freeze_block <= use_block:
            raise BackboneError(
                f"need 1 <= use_block <= 5 and 0 <= freeze_block <= use_block, got {use_block}, {freeze_block}"
            )
        self.use_block, self.freeze_block = use_block, freeze_block
        self.features = nn.Sequential(*s3d_layers(BLOCK_END[use_block], in_channels))
        for module in self.features.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.momentum = bn_momentum
        self.output_width = BLOCK_CHANNELS[use_block]
        self.temporal_stride = BLOCK_TIME_STRIDE[use_block]
        self.stem_chunk = 32  # block 1's output frames per chunk in inference (see _stem)
        for parameter in self.frozen_layers().parameters():
            parameter.requires_grad_(False)

    def frozen_layers(self) -> nn.Sequential:
        return self.features[: BLOCK_END[self.freeze_block]] if self.freeze_block else nn.Sequential()

    def train(self, mode: bool = True) -> S3DBackbone:
        super().train(mode)
        self.frozen_layers().eval()  # frozen batch norms keep their running statistics
        return self

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Valid feature lengths for valid frame counts ``lengths``."""
        return torch.div(lengths + self.temporal_stride - 1, self.temporal_stride, rounding_mode="floor")

    # the input axes an exported graph takes any size of (the rest are fixed by the example)
    export_axes: ClassVar[dict[int, str]] = {0: "batch", 2: "frames"}

    @staticmethod
    def example_input(lengths: list[int], size: int, generator: torch.Generator) -> torch.Tensor:
        """Random videos ``B×3×max(lengths)×size×size``, to trace and check an exported graph with."""
        return torch.randn(len(lengths), 3, max(lengths), size, size, generator=generator)

    @contextmanager
    def exporting(self) -> Iterator[None]:
        """Block 1 runs whole (not in time chunks) meanwhile: a graph holds no Python loop."""
        chunk, self.stem_chunk = self.stem_chunk, 2**30
        try:
            yield
        finally:
            self.stem_chunk = chunk

    def forward(self, videos: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features[2:](self._stem(videos)).mean(dim=(3, 4))  # B×C×T'
        return features.transpose(1, 2), torch.clamp(self.output_lengths(lengths), max=features.shape[2])

    def _stem(self, videos: torch.Tensor) -> torch.Tensor:
        """Block 1 and the max-pool after it: the largest activations, so without autograd in time chunks.

        Chunked, each slice of ``stem_chunk`` output frames is computed from the input frames it sees
        (the temporal convolution's window), zero-padded only at the video's ends as the whole would
        be: the same result, with peak memory set by the chunk instead of the video's length.
        """
        stem = self.features[:2]
        spatial, temporal = self.features[0]
        if torch.is_grad_enabled() or spatial.training or videos.shape[2] <= 2 * self.stem_chunk:
            return stem(videos)
        conv = temporal[0]
        (kernel, _, _), (stride, _, _), (padding, _, _) = conv.kernel_size, conv.stride, conv.padding
        frames = videos.shape[2]
        outputs = []
        for start in range(0, (frames + 2 * padding - kernel) // stride + 1, self.stem_chunk):
            first = start * stride - padding
            last = min(first + (self.stem_chunk - 1) * stride + kernel, frames + padding)  # input window end
            x = spatial(videos[:, :, max(first, 0) : min(last, frames)])  # per frame: no temporal extent
            x = F.pad(x, (0, 0, 0, 0, max(0, -first), max(0, last - frames)))
            x = F.conv3d(x, conv.weight, conv.bias, (stride, *conv.stride[1:]), (0, *conv.padding[1:]))
            outputs.append(self.features[1:2](temporal[2](temporal[1](x))))  # the max-pool, if use_block > 1
        return torch.cat(outputs, dim=2)


def select_backbone_weights(state_dict: dict[str, torch.Tensor], use_block: int) -> dict[str, torch.Tensor]:
    """The entries of a torchvision-layout S3D state dict that blocks 1..``use_block`` use."""
    end = BLOCK_END[use_block]
    return {
        key: value for key, value in state_dict.items() if key.startswith("features.") and int(key.split(".")[1]) < end
    }


def load_kinetics_weights(backbone: S3DBackbone, path: str | Path) -> None:
    """Load torchvision-layout S3D weights (e.g. Kinetics-400) from ``path`` into ``backbone``."""
    if not Path(path).is_file():
        raise BackboneError(f"S3D weights not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    try:
        backbone.load_state_dict(select_backbone_weights(state, backbone.use_block))
    except RuntimeError as error:
        raise BackboneError(f"{path}: not S3D weights in torchvision's layout: {str(error).splitlines()[0]}") from error


@register_encoder("s3d")
@dataclass
class S3DEncoderConfig:
    """``recognition.encoder`` of type ``s3d``: blocks 1..``use_block`` of S3D, ``weights`` its Kinetics-400 start.

    ``freeze_block``: blocks 1..N are frozen (0: none); ``bn_momentum``: see :class:`S3DBackbone`.
    """

    type: str = "s3d"
    weights: str | None = input_path()
    use_block: int = one_of(4, (1, 2, 3, 4, 5), architecture=True)
    freeze_block: int = one_of(1, (0, 1, 2, 3, 4, 5))
    bn_momentum: float = fraction(0.001)

    def __post_init__(self) -> None:
        if self.freeze_block > self.use_block:
            raise ValueError(f"freeze_block ({self.freeze_block}) is above use_block ({self.use_block})")

    def build(self, pretrained: bool) -> S3DBackbone:
        """The backbone; with ``pretrained``, the Kinetics-400 weights of ``weights`` (if set)."""
        backbone = S3DBackbone(self.use_block, self.freeze_block, self.bn_momentum)
        if pretrained and self.weights:
            load_kinetics_weights(backbone, self.weights)
        return backbone

    def output_width(self) -> int:
        return BLOCK_CHANNELS[self.use_block]

    def checkpoint_metadata(self) -> dict:
        return {"use_block": self.use_block}
