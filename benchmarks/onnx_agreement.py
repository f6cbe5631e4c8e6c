"""Benchmark: a run's ONNX export on onnxruntime against PyTorch, video by video: same glosses and sentences?

    python benchmarks/onnx_agreement.py --run runs/demo/s2t [--onnx DIR] [--videos 'GLOB'] [--device cpu]

Translates each video with the run's joint model in PyTorch and with its export (``export.py``;
default RUN_DIR/onnx) on onnxruntime, one video at a time as ``translate.py`` does. Prints how many
glosses and sentences agree, lists those that do not, and the median seconds per video of each
backend (decoding the video included, the same for both).
"""

from __future__ import annotations

import argparse
import glob
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.run_directory import ExportDirectory, RunDirectory  # noqa: E402
from deployment.onnx_backend import OnnxTranslator  # noqa: E402
from deployment.video_translation import VideoTranslator  # noqa: E402
from engine.distributed import setup_distributed  # noqa: E402


def timed(translator, path: str):
    started = time.perf_counter()
    result = translator(path)
    return result, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--onnx", help="the export (default: RUN_DIR/onnx)")
    parser.add_argument("--videos", default=str(ROOT / "data" / "synthetic" / "video" / "test" / "*.mp4"))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    run = RunDirectory(Path(args.run))
    videos = sorted(glob.glob(args.videos))
    if not videos:
        parser.error(f"--videos {args.videos}: no file matches")
    config = load_config(str(run.config), [f"training.device={args.device}", "training.precision=fp32"])
    torch_translator = VideoTranslator.build(config, setup_distributed(args.device, "fp32"), None, False, "benchmark")
    onnx_translator = OnnxTranslator(ExportDirectory(Path(args.onnx) if args.onnx else run.onnx))
    timed(torch_translator, videos[0]), timed(onnx_translator, videos[0])  # warm-up
    same_glosses = same_text = 0
    seconds: dict[str, list[float]] = {"torch": [], "onnx": []}
    for path in videos:
        ours, torch_seconds = timed(torch_translator, path)
        theirs, onnx_seconds = timed(onnx_translator, path)
        seconds["torch"].append(torch_seconds)
        seconds["onnx"].append(onnx_seconds)
        same_glosses += ours.glosses == theirs.glosses
        same_text += ours.text == theirs.text
        if (ours.glosses, ours.text) != (theirs.glosses, theirs.text):
            print(f"differs: {path}\n  torch: {ours.glosses} | {ours.text}\n  onnx:  {theirs.glosses} | {theirs.text}")
    print(f"{run.root} on {args.device}, torch {torch.__version__}, {len(videos)} videos")
    print(f"same glosses: {same_glosses}/{len(videos)}, same sentences: {same_text}/{len(videos)}")
    for backend, values in seconds.items():
        spread = f"min {min(values):.3f}, max {max(values):.3f}"
        print(f"{backend:<6} median {statistics.median(values):.3f} s per video ({spread})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
