"""Visual head: S3D features (B×T×832) -> gloss features (B×T×512) -> gloss logits.

Projection block (Linear, BatchNorm over valid frames only, ReLU), sinusoidal positional
encoding, temporal conv block (Conv1d k=3 -> ReLU -> Conv1d k=3, residual, LayerNorm), dropout,
and the gloss classifier. Two variants: ``toolkit`` (this toolkit's, post-norm, LayerNorm eps
1e-5, dropout before the classifier) and ``paper`` (the paper's code, ``TwoStreamNetwork``'s
``VisualHead``: a LayerNorm before the convolutions too, both with eps 1e-6, dropout after the
first convolution's ReLU and none before the classifier), which gives the paper's outputs on its
weights. Padded frames are zeroed before every convolution, so each valid frame's
output is the same whether or not the sample is padded in a batch. Under autocast the activations
keep the dtype the layers give them: masks multiply as booleans and the position table is made in
the activations' dtype.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from core.host_transfer import to_device


def valid_mask(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """B×T boolean mask, True on the first ``lengths[b]`` frames."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def sinusoidal_positions(
    length: int, dim: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The Transformer's sinusoidal position encodings, ``length×dim`` (computed in fp32, returned as ``dtype``)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table.to(dtype)


class MaskedBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d over the valid frames of a B×T×C batch; padded frames come out as zeros.

    The statistics are masked sums over the whole padded batch, so every tensor keeps a shape
    known before the step (no boolean indexing, no host sync: CUDA graphs and ``torch.compile``
    see one graph). They are computed in fp32 and the output keeps the input's dtype, which
    autocast may have lowered. Running statistics follow BatchNorm1d: exponential average with
    ``momentum`` (cumulative when None), the unbiased variance.
    """

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep, values = mask[..., None], x.float()  # one fp32 copy of lowered activations, not one per use
        if self.training or not self.track_running_stats:
            weights = keep.float()
            count = weights.sum()
            mean = (values * weights).sum(dim=(0, 1)) / count
            var = ((values - mean).square() * weights).sum(dim=(0, 1)) / count
            if self.training and self.track_running_stats:
                self._track(mean, var, count)
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps)
        if self.affine:
            scale, shift = scale * self.weight, self.bias - mean * scale * self.weight
        else:
            shift = -mean * scale
        return ((values * scale + shift) * keep).to(x.dtype)

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor) -> None:
        self.num_batches_tracked.add_(1)
        factor = self.momentum if self.momentum is not None else 1.0 / self.num_batches_tracked
        unbiased = var * count / (count - 1).clamp(min=1)
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(unbiased, factor)


HEAD_VARIANTS = ("toolkit", "paper")


class VisualHead(nn.Module):
    """Projection block, positional encoding, temporal conv block and gloss classifier (``variant``: see above)."""

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        hidden_dim: int = 512,
        ff_dim: int = 2048,
        dropout: float = 0.1,
        variant: str = "toolkit",
    ) -> None:
        super().__init__()
        if variant not in HEAD_VARIANTS:
            raise ValueError(f"visual head variant {variant!r} is not one of {list(HEAD_VARIANTS)}")
        self.variant = variant
        paper = variant == "paper"
        self.projection = nn.Linear(input_dim, hidden_dim)
        self.norm = MaskedBatchNorm(hidden_dim)
        self.ff_norm = nn.LayerNorm(hidden_dim, eps=1e-6) if paper else None
        self.conv1 = nn.Conv1d(hidden_dim, ff_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv1d(ff_dim, hidden_dim, kernel_size=3, padding=1)
        self.layer_norm = nn.LayerNorm(hidden_dim, eps=1e-6 if paper else 1e-5)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_dim, num_classes)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gloss features (B×T×hidden) and gloss logits (B×T×classes); padded frames are zeros.

        ``lengths`` may be on the host (the usual case) or on the features' device.
        """
        mask = valid_mask(to_device(lengths, features.device), features.shape[1])
        keep = mask[..., None]  # boolean: multiplying keeps each activation's dtype
        x = torch.relu(self.norm(self.projection(features), mask))
        x = self.dropout(x + sinusoidal_positions(x.shape[1], x.shape[2], x.device, x.dtype)) * keep
        if self.ff_norm is None:
            hidden = torch.relu(self.conv1(x.transpose(1, 2))) * keep.transpose(1, 2)
            x = self.layer_norm(x + self.dropout(self.conv2(hidden).transpose(1, 2))) * keep
            return x, self.classifier(self.dropout(x))
        inner = (self.ff_norm(x) * keep).transpose(1, 2)
        hidden = self.dropout(torch.relu(self.conv1(inner))) * keep.transpose(1, 2)
        x = self.layer_norm(x + self.dropout(self.conv2(hidden).transpose(1, 2))) * keep
        return x, self.classifier(x)
