"""Benchmark: peak memory and time to translate a phone-sized video, on the CPU.

    python benchmarks/video_memory.py [--run runs/demo/s2t] [--frames 50 300 1500]
        [--height 1080 --width 1920] [--img-size 224] [--decode-size 256] [--max-frames 400] [--workdir DIR]

Writes H.264 (YUV 4:2:0) mp4 files of the given lengths (kept in ``--workdir`` for the next run).
For each, in fresh processes:
- with ``--run``: ``translate.py --run RUN_DIR VIDEO --device cpu`` (the quick start's model, or any
  trained S2T run): wall time and the process's peak resident memory;
- the paper's recognition input at full size: read the frames the model takes (evenly subsampled to
  ``--max-frames``, each scaled to ``--decode-size`` on its shorter side as it is decoded),
  centre-crop and normalise them to ``--img-size`` and run S3D blocks 1-4 (random weights) in fp32:
  frames used, seconds to decode and to run S3D, and peak resident memory. ``--decode-size 0`` keeps
  frames at full size, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dataset.video_reader import read_video_file, write_video_file  # noqa: E402
from dataset.video_transforms import prepare_videos, read_sampled_frames  # noqa: E402
from modelling.s3d import S3DBackbone  # noqa: E402


def phone_video(path: Path, frames: int, height: int, width: int) -> Path:
    """A moving-gradient mp4 of ``frames`` frames (written once; generated frame by frame)."""
    if not path.is_file():
        rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
        cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]

        def frame(i: int) -> np.ndarray:
            shade = (rows + cols + 3 * i) % 256
            return np.stack([shade, np.roll(shade, i, axis=1), 255 - shade], axis=-1).astype(np.uint8)

        write_video_file((frame(i) for i in range(frames)), path.with_suffix(".partial.mp4"), lossless=False)
        path.with_suffix(".partial.mp4").rename(path)
    return path


def measure(path: Path, args: argparse.Namespace) -> dict:
    """Decode, preprocess and run S3D on one video; its frame counts and times (the parent measures memory)."""
    torch.set_grad_enabled(False)
    model = S3DBackbone(use_block=4).eval()
    started = time.perf_counter()
    frames, _, _ = read_sampled_frames(
        lambda select: read_video_file(path, select, args.decode_size or None), args.max_frames, min_frames=8
    )
    decoded = time.perf_counter()
    videos = prepare_videos(frames[None], args.img_size, training=False)
    model(videos, torch.tensor([len(frames)]))
    finished = time.perf_counter()
    return {
        "used": len(frames),
        "decoded": f"{frames.shape[1]}x{frames.shape[2]}",
        "decode_s": round(decoded - started, 2),
        "s3d_s": round(finished - decoded, 2),
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a trained S2T run directory to time translate.py with")
    parser.add_argument("--frames", type=int, nargs="+", default=[50, 300, 1500])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--decode-size", type=int, default=256, help="0: frames at full size")
    parser.add_argument("--max-frames", type=int, default=400)
    parser.add_argument("--workdir", default="/tmp/video_memory_benchmark", help="where the videos are kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # measure this one video in this process
    return parser.parse_args(argv)


def run_measured(command: list[str]) -> tuple[str, float, float]:
    """Run ``command``; its stdout, wall seconds and peak resident memory (MiB)."""
    started = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
        stdout = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own peak, unlike getrusage(RUSAGE_CHILDREN)
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            errors.seek(0)
            raise SystemExit(f"failed: {' '.join(command)}\n{errors.read()[-2000:]}")
    return stdout, time.perf_counter() - started, usage.ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(Path(args.child), args)))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cpu = platform.processor() or platform.machine()
    print(f"CPU: {cpu}, {os.cpu_count()} cores, torch {torch.__version__}")
    decode = args.decode_size or "full"
    print(f"S3D blocks 1-4 at {args.img_size} px, decode size {decode}, max {args.max_frames} frames")
    print(f"{'video':>20} | {'translate.py':^18} | {'S3D at ' + str(args.img_size) + ' px':^42}")
    print(
        f"{'':>20} | {'s':>7} {'peak MiB':>9}  | "
        f"{'used':>5} {'decoded':>9} {'decode s':>8} {'S3D s':>6} {'peak MiB':>9}"
    )
    for frames in args.frames:
        video = phone_video(workdir / f"{frames}x{args.height}x{args.width}.mp4", frames, args.height, args.width)
        translated = "-", "-"
        if args.run:
            _, seconds, peak = run_measured(
                [sys.executable, "translate.py", "--run", args.run, str(video), "--device", "cpu"]
            )
            translated = f"{seconds:.1f}", f"{peak:.0f}"
        stdout, _, s3d_peak = run_measured([sys.executable, __file__, "--child", str(video), *_settings(args)])
        result = json.loads(stdout)
        print(
            f"{f'{frames} x {args.width}x{args.height}':>20} | {translated[0]:>7} {translated[1]:>9}  | "
            f"{result['used']:>5} {result['decoded']:>9} {result['decode_s']:>8.2f} {result['s3d_s']:>6.2f} "
            f"{s3d_peak:>9.0f}",
            flush=True,
        )


def _settings(args: argparse.Namespace) -> list[str]:
    keys = ("img_size", "decode_size", "max_frames")
    return [part for key in keys for part in (f"--{key.replace('_', '-')}", str(getattr(args, key)))]


if __name__ == "__main__":
    main()
