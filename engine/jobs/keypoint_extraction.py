"""Landmarks of videos with MediaPipe Holistic, one ``.pose`` file per video (``extract_keypoints.py``).

    python extract_keypoints.py VIDEO_OR_FRAME_FOLDER ... --output-dir DIR
    [torchrun --nproc_per_node N] extract_keypoints.py --config CONFIG.yaml [--splits ...] --output-dir DIR

With ``--config``, every sample of the splits is read as that config's ``data.video`` reads it
(frame folders, a zip, video files), into ``DIR/<split>/<name>.pose``, which a config reads back
with ``data.keypoints: {path: DIR/{split}, format: pose_files}``; given paths go to
``DIR/<name>.pose``. Each file holds the 543 points of :mod:`dataset.landmarks` per frame, in pixels,
with the video's size and frame rate (pose-format's layout, read by
:func:`dataset.keypoint_formats.read_pose_file`).

Processes share the videos (``torchrun`` ranks, or ``--shard K/N``: every N-th video from the K-th).
A video whose file exists is skipped, so an interrupted run resumes; each file is written whole or
not at all. Frames are read a chunk at a time, so memory holds a chunk whatever the video's length.
A video that cannot be read, or in which nobody is found, is counted and named, and the others go
on; the summary (also in ``DIR/extraction-K-of-N.json``) gives frames per second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.config import load_config
from core.errors import ToolkitError
from dataset.keypoint_formats import write_pose_file
from dataset.keypoints import Keypoints
from dataset.landmarks import BUNDLED_COMPLEXITY, HolisticExtractor, check_model_complexity, import_holistic
from dataset.video_reader import DEFAULT_FPS, VideoError, VideoSource, probe_video_file
from engine.progress import progress_bar
from engine.tasks.data_preparation import read_split


@dataclass(frozen=True)
class Video:
    """One video to extract: where its frames are, and where its landmarks go."""

    name: str
    source: VideoSource
    location: str
    output: Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="*", help="video files or folders of frames")
    parser.add_argument("--config", help="a config whose data.video (and splits) name the videos")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"], choices=["train", "dev", "test"])
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--output-dir", required=True, type=Path)
    parser.add_argument("--model-complexity", type=int, default=BUNDLED_COMPLEXITY, help="MediaPipe's pose model")
    parser.add_argument("--shard", help="K/N: this process takes every N-th video from the K-th (default: torchrun's)")
    parser.add_argument("--chunk", type=int, default=64, help="frames read at a time")
    parser.add_argument("--fps", type=float, default=DEFAULT_FPS, help="the frame rate of folders of frames")
    return parser.parse_args(argv)


def shard_of(value: str | None) -> tuple[int, int]:
    """(K, N) from ``--shard K/N``, else torchrun's rank and world size, else (0, 1)."""
    if value is None:
        return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    try:
        index, count = (int(part) for part in value.split("/"))
    except ValueError:
        raise ToolkitError(f"--shard {value}: expected K/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise ToolkitError(f"--shard {value}: K must be in 0..N-1")
    return index, count


def videos_of(args: argparse.Namespace) -> list[Video]:
    """The videos the paths or the config's splits name, in a fixed order (every process sees the same list)."""
    if bool(args.paths) == bool(args.config):
        raise ToolkitError("give video files or frame folders, or --config (not both)")
    if args.paths:
        videos = []
        for path in map(Path, args.paths):
            layout = "frames" if path.is_dir() else "file"
            videos.append(
                Video(path.stem, VideoSource(path.parent, layout), path.name, args.output_dir / f"{path.stem}.pose")
            )
        return videos
    config = load_config(args.config, args.override)
    if config.data.video is None:
        raise ToolkitError(f"{args.config}: no data.video section: it names no videos to extract")
    video = config.data.video
    source = VideoSource(video.root, video.format, video.path)
    return [
        Video(sample.name, source, source.location(split, sample.name), args.output_dir / split / f"{sample.name}.pose")
        for split in args.splits
        for sample in read_split(config, split).samples
    ]


def landmarks_of(video: Video, extractor: HolisticExtractor, chunk: int, fps: float) -> Keypoints:
    """The video's landmarks, read ``chunk`` frames at a time; :class:`VideoError` if nobody is in any frame."""
    frames, size = [], None
    with extractor:
        for block in video.source.chunks(video.location, chunk):
            size = block.shape[1:3]
            frames.extend(extractor.frame(image) for image in block.numpy())
    points = np.stack(frames)
    if not (points[..., 3] > 0).any():
        raise VideoError(f"nobody found in its {len(points)} frames")
    if video.source.layout == "file":
        fps = probe_video_file(video.source.root / video.location).fps
    return Keypoints(points, "mediapipe-holistic", "pixels", int(size[1]), int(size[0]), fps)


def extract(args: argparse.Namespace) -> dict:
    """Extract this process's share of the videos; the summary."""
    check_model_complexity(args.model_complexity)
    index, count = shard_of(args.shard)
    import_holistic()  # one line saying what to install, before any video
    videos = videos_of(args)[index::count]
    extractor = HolisticExtractor(args.model_complexity)
    counts, failed, frames, started = Counter(), {}, 0, time.perf_counter()
    for video in progress_bar(videos, desc=f"landmarks {index + 1}/{count}"):
        if video.output.is_file():
            counts["already extracted"] += 1
            continue
        try:
            keypoints = landmarks_of(video, extractor, args.chunk, args.fps)
        except VideoError as error:
            counts["failed"] += 1
            failed[video.name] = str(error)
            continue
        video.output.parent.mkdir(parents=True, exist_ok=True)
        partial = video.output.with_name(f".{video.output.name}.partial")
        write_pose_file(partial, keypoints)
        partial.replace(video.output)
        counts["extracted"] += 1
        frames += len(keypoints.points)
    seconds = time.perf_counter() - started
    summary = {"shard": f"{index}/{count}", **counts, "frames": frames, "seconds": round(seconds, 2)}
    summary |= {"frames_per_second": round(frames / seconds, 2) if frames else 0.0, "failed_videos": failed}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    report = args.output_dir / f"extraction-{index}-of-{count}.json"
    report.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        summary = extract(args)
    except ToolkitError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    shown = {k: v for k, v in summary.items() if k != "failed_videos"}
    print("landmarks: " + ", ".join(f"{k} {v}" for k, v in shown.items()), flush=True)
    for name, reason in summary["failed_videos"].items():
        print(f"  failed: {name}: {reason}", flush=True)
    return 0
