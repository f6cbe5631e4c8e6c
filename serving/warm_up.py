"""Warming a translator up before the service takes requests, so that its first request is not its slowest.

The first translation in a process pays for what later ones reuse: on a GPU, the CUDA libraries'
start-up, loading each kernel on first use and capturing the decoder's CUDA graph (one per batch
shape, :mod:`modelling.cached_generation`); on any device, the video decoder and the allocators.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from dataset.video_reader import write_video_file
from deployment.video_translation import Translator

WARM_UP_SECONDS = 2.0  # of video: 50 frames at 25 fps
WARM_UP_FPS = 25


def warm_up(translator: Translator, seconds: float = WARM_UP_SECONDS) -> float:
    """Translate a grey clip of ``seconds``, written and read as an upload is; the seconds it took."""
    started = time.perf_counter()
    size = translator.preprocessing.config.img_size
    frames = torch.full((max(1, round(seconds * WARM_UP_FPS)), size, size, 3), 128, dtype=torch.uint8)
    with tempfile.TemporaryDirectory(prefix="slt-warm-up-") as folder:
        path = Path(folder) / "warm-up.mp4"
        write_video_file(frames, path, fps=WARM_UP_FPS, lossless=False)
        translator.translate([translator.read(str(path))])
    return time.perf_counter() - started
