"""Frame sampling (per sample) and augmentation (on the whole batch tensor, on the GPU when there is one).

Sampling picks frame indices: a random temporal rescale in training, a cap at ``max_frames``, at
least ``min_frames`` (short videos repeat frames) and a multiple of 4 (S3D's time stride at block 4).
Augmentation turns padded ``B×T×H×W×3`` uint8 frames into normalised ``B×3×T×S×S`` floats: a random
resized crop and colour jitter in training, a centre crop in evaluation, both resampled with one
batched ``grid_sample``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F

from core.host_transfer import to_device

# torchvision's S3D Kinetics-400 preprocessing
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
NORMALISATIONS = ("kinetics", "paper")
FRAME_SELECTIONS = ("even", "paper")


def sample_frame_indices(
    num_frames: int,
    max_frames: int,
    rng: random.Random | None = None,
    rescale: tuple[float, float] = (0.5, 1.5),
    min_frames: int = 8,
    multiple: int = 4,
    selection: str = "even",
) -> list[int]:
    """Indices into ``num_frames`` frames, a multiple of ``multiple`` of them; ``rng`` (training) rescales time.

    ``even``: evenly spaced, resampled to a multiple of ``multiple`` between ``min_frames`` and
    ``max_frames``. ``paper``, as the paper's code selects them: in evaluation every frame (the
    central ``max_frames`` of a longer video), the last ``n % multiple`` dropped; in training a
    random length between the rescale bounds, rounded up to a multiple, of frames drawn without
    repetition (with random repeats beyond the video's own). Either repeats frames up to
    ``min_frames``.
    """
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    if selection == "paper":
        indices = _paper_indices(num_frames, max_frames - max_frames % multiple, rng, rescale, multiple)
        if len(indices) >= min_frames:
            return indices
    elif selection != "even":
        raise ValueError(f"frame selection {selection!r} is not one of {list(FRAME_SELECTIONS)}")
    target = num_frames if rng is None else round(num_frames * rng.uniform(*rescale))
    target = min(max(target, min_frames), max_frames - max_frames % multiple)
    target = math.ceil(target / multiple) * multiple
    return torch.linspace(0, num_frames - 1, target).round().long().tolist()


def _paper_indices(
    num_frames: int, max_frames: int, rng: random.Random | None, rescale: tuple[float, float], multiple: int
) -> list[int]:
    if rng is None:
        length = min(num_frames, max_frames)
        start = (num_frames - length) // 2
        return list(range(start, start + length - length % multiple))
    low, high = int(rescale[0] * num_frames), min(max_frames, int(rescale[1] * num_frames))
    length = min(math.ceil(rng.randint(min(low, high), high) / multiple) * multiple, max_frames)
    if length <= num_frames:
        return sorted(rng.sample(range(num_frames), length))
    return sorted([*range(num_frames), *(rng.randrange(num_frames) for _ in range(length - num_frames))])


def read_sampled_frames(
    read: Callable[[Callable[[int], list[int]]], torch.Tensor],
    max_frames: int,
    min_frames: int,
    rng: random.Random | None = None,
    rescale: tuple[float, float] = (1.0, 1.0),
    selection: str = "even",
) -> tuple[torch.Tensor, int, list[int]]:
    """``read(select)`` with the frames :func:`sample_frame_indices` picks, the video's own frame count and
    the picked indices (a second stream of the same video, its keypoints, takes the same frames)."""
    available: list[int] = []
    chosen: list[list[int]] = []

    def select(num_frames: int) -> list[int]:
        available.append(num_frames)
        chosen.append(sample_frame_indices(num_frames, max_frames, rng, rescale, min_frames, selection=selection))
        return chosen[0]

    frames = read(select)
    return frames, available[0], chosen[0]


def _crop_grid(boxes: torch.Tensor, frames: int, size: int) -> torch.Tensor:
    """Sampling grids for crops ``boxes`` (B×4: centre x, centre y, width, height in [-1, 1] units)."""
    theta = torch.zeros(len(boxes), 3, 4, device=boxes.device)
    theta[:, 0, 0], theta[:, 0, 3] = boxes[:, 2] / 2, boxes[:, 0]
    theta[:, 1, 1], theta[:, 1, 3] = boxes[:, 3] / 2, boxes[:, 1]
    theta[:, 2, 2] = 1.0  # time is kept as it is
    return F.affine_grid(theta, [len(boxes), 3, frames, size, size], align_corners=False)


def random_crop_boxes(
    batch: int, area: tuple[float, float], ratio: tuple[float, float], generator: torch.Generator
) -> torch.Tensor:
    """Random crop boxes with an area fraction in ``area`` and an aspect ratio in ``ratio``."""
    scale = torch.empty(batch).uniform_(*area, generator=generator)
    log_ratio = torch.empty(batch).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator)
    aspect = log_ratio.exp()
    width = (scale * aspect).sqrt().clamp(max=1.0) * 2
    height = (scale / aspect).sqrt().clamp(max=1.0) * 2
    cx = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - width / 2)
    cy = (torch.rand(batch, generator=generator) * 2 - 1) * (1 - height / 2)
    return torch.stack([cx, cy, width, height], dim=1)


def crop_boxes(
    shape: tuple[int, ...],
    training: bool,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.7, 1.0),
    ratio: tuple[float, float] = (0.75, 1.3),
    centre_crop: float = 1.0,
    crop_pixels: int | None = None,
) -> torch.Tensor:
    """The crop of each video of a ``B×T×H×W×3`` batch (B×4: centre x, centre y, width, height in [-1, 1] units):
    random in training (see :func:`random_crop_boxes`), else the centre (``centre_crop`` of each side, or
    ``crop_pixels`` pixels)."""
    batch, height, width = shape[0], shape[2], shape[3]
    if training:
        return random_crop_boxes(batch, area, ratio, generator)
    sides = (2 * crop_pixels / width, 2 * crop_pixels / height) if crop_pixels else (2 * centre_crop,) * 2
    return torch.tensor([[0.0, 0.0, *sides]]).expand(batch, 4)


def colour_jitter(videos: torch.Tensor, strength: float, generator: torch.Generator) -> torch.Tensor:
    """Random brightness, contrast and saturation per sample of B×3×T×H×W videos in [0, 1]."""
    shape = (len(videos), 1, 1, 1, 1)

    def factors() -> torch.Tensor:
        return to_device(torch.empty(shape).uniform_(1 - strength, 1 + strength, generator=generator), videos.device)

    videos = videos * factors()
    mean = videos.mean(dim=(1, 2, 3, 4), keepdim=True)
    videos = (videos - mean) * factors() + mean
    grey = videos.mean(dim=1, keepdim=True)
    return ((videos - grey) * factors() + grey).clamp(0, 1)


def prepare_videos(
    frames: torch.Tensor,
    size: int,
    training: bool,
    generator: torch.Generator | None = None,
    area: tuple[float, float] = (0.7, 1.0),
    ratio: tuple[float, float] = (0.75, 1.3),
    jitter: float = 0.2,
    centre_crop: float = 1.0,
    normalisation: str = "kinetics",
    crop_pixels: int | None = None,
    boxes: torch.Tensor | None = None,
) -> torch.Tensor:
    """Padded ``B×T×H×W×3`` uint8 frames -> normalised ``B×3×T×size×size`` float videos.

    Evaluation crops the centre: ``centre_crop`` of each side, or (``crop_pixels``) a square of that
    many pixels, black where the frame is smaller (as torchvision's ``CenterCrop``; exact where the
    frame's size differs from it by an even number of pixels), either resampled to ``size``.

    ``normalisation``: ``kinetics``, torchvision's S3D (RGB, Kinetics mean and std), for its
    weights; ``paper``, the paper's code (BGR, ``(x - 0.5) / 0.5``), for its weights.

    ``boxes``: the crops :func:`crop_boxes` chose, where another stream must be cropped alike.
    """
    if normalisation not in NORMALISATIONS:
        raise ValueError(f"normalisation {normalisation!r} is not one of {list(NORMALISATIONS)}")
    videos = frames.permute(0, 4, 1, 2, 3).float() / 255.0
    frames_count = videos.shape[2]
    if boxes is None:
        boxes = crop_boxes(frames.shape, training, generator, area, ratio, centre_crop, crop_pixels)
    boxes = to_device(boxes, videos.device)
    videos = F.grid_sample(videos, _crop_grid(boxes, frames_count, size), mode="bilinear", align_corners=False)
    if training and jitter > 0:
        videos = colour_jitter(videos, jitter, generator)
    if normalisation == "paper":
        return (videos[:, [2, 1, 0]] - 0.5) / 0.5
    mean = to_device(torch.tensor(KINETICS_MEAN), videos.device).view(1, 3, 1, 1, 1)
    std = to_device(torch.tensor(KINETICS_STD), videos.device).view(1, 3, 1, 1, 1)
    return (videos - mean) / std
