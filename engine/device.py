"""Device and numeric precision: the ``training.device`` and ``training.precision`` settings resolved.

``device: auto`` takes this rank's GPU when CUDA is available, else the CPU. ``precision: auto`` is
bf16 autocast on a GPU that supports it and fp32 otherwise; ``fp16`` runs autocast in float16 with
a gradient scaler. Autocast runs on the CPU too (bf16 or fp16): the tests use that to follow the
GPU's dtype paths without a GPU.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from core.config import DEVICES, PRECISIONS
from core.errors import ToolkitError
from modelling.s3d import fold_batch_norms

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(ToolkitError):
    """A device or precision this machine cannot provide, or more ranks than GPUs."""


@dataclass(frozen=True)
class Precision:
    """How computations run on ``device_type``: fp32, or autocast to bf16 / fp16."""

    name: str
    device_type: str

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, None for fp32."""
        return AUTOCAST_DTYPES.get(self.name)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to this precision (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A loss scaler, enabled for fp16 only (bf16 and fp32 keep fp32's range)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def resolve_device(choice: str, local_rank: int, local_world_size: int) -> torch.device:
    """The device of local rank ``local_rank``; a clear error when CUDA is missing or has too few GPUs."""
    if choice not in DEVICES:
        raise DeviceError(f"device {choice!r} is not one of {list(DEVICES)}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise DeviceError("device 'cuda' was asked for, but CUDA is not available here: use --device cpu")
    gpus = torch.cuda.device_count()
    if local_world_size > gpus:
        raise DeviceError(
            f"{local_world_size} processes per node but {gpus} visible GPU(s): start at most {gpus} "
            f"(torchrun --nproc_per_node {gpus}), or run on the CPU with --device cpu"
        )
    return torch.device("cuda", local_rank)


def resolve_precision(choice: str, device: torch.device) -> Precision:
    """The precision for ``choice`` on ``device``; a clear error for one the device cannot run."""
    if choice not in PRECISIONS:
        raise DeviceError(f"precision {choice!r} is not one of {list(PRECISIONS)}")
    if choice == "auto":
        bf16_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return Precision("bf16" if bf16_gpu else "fp32", device.type)
    if choice == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise DeviceError(f"precision bf16: {name} does not support bfloat16; use --precision fp16 or fp32")
    return Precision(choice, device.type)


def channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with its 3-D convolution weights channels-last (N×T×H×W×C in memory), in place."""
    for module in model.modules():
        if isinstance(module, torch.nn.Conv3d):
            module.to(memory_format=torch.channels_last_3d)
    return model


def place_model(model: torch.nn.Module, device: torch.device, inference: bool = False) -> torch.nn.Module:
    """``model`` on ``device``, its 3-D convolutions channels-last on a GPU, and on the CPU for ``inference``.

    For ``inference`` the model is also put in eval mode with S3D's batch norms folded into its
    convolutions (:func:`~modelling.s3d.fold_batch_norms`); it can no longer be trained.

    Measured on one H100 (issue 12): S3D blocks 1-4 at 4 x 64 x 224, fp32, 99 clips/s contiguous and
    121 channels-last; the video input is made channels-last to match (:mod:`dataset.video_preprocessing`).
    On the 2-core CPU, S3D's forward pass on 64 frames at 224 px took 2.51 s channels-last against
    4.02 s contiguous (median of 4), with the weights alone channels-last (a convolution then gives
    channels-last output); training steps were no faster, so training keeps the default layout there.
    """
    model = model.to(device)
    if inference:
        fold_batch_norms(model)
    return channels_last(model) if device.type == "cuda" or inference else model
