"""Benchmark: MediaPipe Holistic landmark extraction (``extract_keypoints.py``) in frames per second, on this machine.

    python benchmarks/landmark_extraction.py [--seconds 10] [--sizes 260x210 512x512]

Writes a clip of a real person (scikit-image's astronaut photograph, moving across the frame a
little each frame, so Holistic tracks rather than sees one still image) at each size (height x
width; PHOENIX-2014T's frames are 260 x 210), 25 fps, runs ``extract_keypoints.py`` on it and prints
the frames per second it reports (reading, decoding and Holistic with the bundled pose model).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from training_run import print_markdown_table

from dataset.video_reader import write_video_file
from engine.jobs import keypoint_extraction


def person_clip(height: int, width: int, frames: int) -> torch.Tensor:
    """The astronaut photograph scaled to the frame's height, swaying sideways by a few pixels a frame."""
    import skimage.data

    photo = Image.fromarray(skimage.data.astronaut())
    photo = np.asarray(photo.resize((round(photo.width * height / photo.height), height), Image.Resampling.BILINEAR))
    canvas = np.zeros((frames, height, width, 3), dtype=np.uint8)
    for index in range(frames):
        shift = int(0.05 * width * np.sin(2 * np.pi * index / 50))
        left = (width - photo.shape[1]) // 2 + shift
        source = photo[:, max(0, -left) : photo.shape[1] - max(0, left + photo.shape[1] - width)]
        start = max(0, left)
        canvas[index, :, start : start + source.shape[1]] = source
    return torch.from_numpy(canvas)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--sizes", nargs="+", default=["260x210", "512x512"])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            height, width = (int(v) for v in size.split("x"))
            clip = Path(scratch) / f"person_{size}.mp4"
            write_video_file(person_clip(height, width, round(25 * args.seconds)), clip, fps=25, lossless=False)
            output = Path(scratch) / f"out_{size}"
            if keypoint_extraction.main([str(clip), "--output-dir", str(output)]):
                return 1
            report = json.loads((output / "extraction-0-of-1.json").read_text(encoding="utf-8"))
            rows.append([f"{height} x {width}", report["frames"], f"{report['frames_per_second']:.1f}"])
    title = "MediaPipe Holistic (model complexity 1) via extract_keypoints.py"
    print_markdown_table(title, ["frame (height x width)", "frames", "frames/s"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
