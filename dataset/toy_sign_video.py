"""The toy sign language rendered as small videos, deterministic by seed.

Each gloss is a distinct short motion of two hand-like shapes: its own shapes, colours, start and
end positions and a wiggle, all derived from the gloss name. Signers vary the rendering: where they
stand (a position offset), how fast they sign (frames per gloss) and a colour tint. A sentence is
the concatenation of its glosses' motions, with a few resting frames at both ends.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dataset.video_reader import write_video_file

SHAPES = ("disc", "square", "ring")
REST_FRAMES = 2


@dataclass(frozen=True)
class HandMotion:
    """One hand's path and look during a gloss (coordinates are fractions of the image size)."""

    start: tuple[float, float]
    end: tuple[float, float]
    radius: float
    shape: str
    colour: tuple[int, int, int]
    wiggle: float


@dataclass(frozen=True)
class Signer:
    """How one signer renders every gloss."""

    offset: tuple[float, float]
    frames_per_gloss: int
    tint: tuple[float, float, float]


def gloss_motion(gloss: str) -> tuple[HandMotion, HandMotion]:
    """The two hands' motions of ``gloss`` (the same for every run and machine)."""
    rng = random.Random(zlib.crc32(gloss.encode("utf-8")))

    def hand(x_low: float, x_high: float) -> HandMotion:
        return HandMotion(
            start=(rng.uniform(x_low, x_high), rng.uniform(0.25, 0.8)),
            end=(rng.uniform(x_low, x_high), rng.uniform(0.25, 0.8)),
            radius=rng.uniform(0.07, 0.12),
            shape=rng.choice(SHAPES),
            colour=(rng.randrange(80, 256), rng.randrange(80, 256), rng.randrange(80, 256)),
            wiggle=rng.choice((0.0, 0.04, 0.08)),
        )

    return hand(0.15, 0.5), hand(0.5, 0.85)


def signer_style(name: str, seed: int) -> Signer:
    """The rendering style of the signer called ``name`` (e.g. ``Signer03``) under ``seed``."""
    rng = random.Random(zlib.crc32(f"{seed}:{name}".encode()))
    return Signer(
        offset=(rng.uniform(-0.06, 0.06), rng.uniform(-0.06, 0.06)),
        frames_per_gloss=rng.randrange(6, 11),
        tint=tuple(rng.uniform(0.8, 1.0) for _ in range(3)),
    )


def _draw(canvas: np.ndarray, centre: tuple[float, float], motion: HandMotion, tint: tuple[float, ...]) -> None:
    size = canvas.shape[0]
    ys, xs = np.mgrid[0:size, 0:size] / size
    dx, dy = xs - centre[0], ys - centre[1]
    if motion.shape == "square":
        inside = np.maximum(np.abs(dx), np.abs(dy)) <= motion.radius * 0.85
    else:
        distance = np.hypot(dx, dy)
        inside = distance <= motion.radius
        if motion.shape == "ring":
            inside &= distance >= motion.radius * 0.5
    canvas[inside] = [int(c * t) for c, t in zip(motion.colour, tint, strict=True)]


def hand_path(glosses: list[str], signer: Signer) -> list[tuple[tuple[HandMotion, HandMotion], float, list]]:
    """Each frame of ``signer`` signing ``glosses``: the gloss's two hand motions, the time in it (0..1) and the
    hands' centres (fractions of the image size), the left-hand shape's (on the image's left) first."""
    motions = [gloss_motion(g) for g in glosses]
    steps = [(m, t) for m in motions for t in np.linspace(0.0, 1.0, signer.frames_per_gloss)]
    steps = [(motions[0], 0.0)] * REST_FRAMES + steps + [(motions[-1], 1.0)] * REST_FRAMES
    frames = []
    for hands, t in steps:
        centres = []
        for hand in hands:
            eased = t * t * (3 - 2 * t)
            x = hand.start[0] + (hand.end[0] - hand.start[0]) * eased + signer.offset[0]
            y = hand.start[1] + (hand.end[1] - hand.start[1]) * eased + signer.offset[1]
            y += hand.wiggle * np.sin(2 * np.pi * t)
            centres.append((x, y))
        frames.append((hands, t, centres))
    return frames


def render_glosses(glosses: list[str], signer: Signer, size: int = 64) -> torch.Tensor:
    """``T×size×size×3`` uint8 frames of ``signer`` signing ``glosses``."""
    frames = []
    for hands, _, centres in hand_path(glosses, signer):
        canvas = np.full((size, size, 3), 24, dtype=np.uint8)
        for hand, centre in zip(hands, centres, strict=True):
            _draw(canvas, centre, hand, signer.tint)
        frames.append(canvas)
    return torch.from_numpy(np.stack(frames))


def write_frame_folder(frames: torch.Tensor, folder: str | Path) -> None:
    """Write ``T×H×W×3`` uint8 frames as ``folder/images0000.png``, ``images0001.png``, ..."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames.numpy()):
        Image.fromarray(frame).save(folder / f"images{index:04d}.png")


def write_toy_videos(
    records: Iterable[dict],
    seed: int,
    size: int = 64,
    video_file: Callable[[str], Path] | None = None,
    frame_folder: Callable[[str], Path] | None = None,
) -> list[dict]:
    """Render each annotation record as an mp4 at ``video_file(name)`` and/or PNGs in ``frame_folder(name)``.

    Returns the records with ``num_frames`` set to the rendered length (the annotation format of the
    real datasets); existing files are overwritten.
    """
    rendered = []
    for record in records:
        video = render_glosses(record["gloss"].split(), signer_style(record["signer"], seed), size)
        if video_file is not None:
            path = video_file(record["name"])
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video_file(video, path)
        if frame_folder is not None:
            write_frame_folder(video, frame_folder(record["name"]))
        rendered.append({**record, "num_frames": len(video)})
    return rendered
