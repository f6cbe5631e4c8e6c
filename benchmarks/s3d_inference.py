"""Benchmark: S3D + visual head inference on one clip, with S3D's batch norms folded into its convolutions or not.

    python benchmarks/s3d_inference.py [--frames 250] [--size 224] [--repeats 5]
        [--device auto|cpu|cuda] [--precision auto|fp32|bf16|fp16]

The recognition network of translate.py, serve.py and extract_feature.py (S3D blocks 1-4, visual
head over 1,100 glosses, random weights), channels-last in both variants: ``batch norm`` as trained,
``folded`` as ``place_model(..., inference=True)`` gives it (:func:`modelling.s3d.fold_batch_norms`).
The two variants alternate, after a warm-up pass of each; prints the median seconds of each, their
ratio, and the largest difference of their gloss log-probabilities.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DEVICES, PRECISIONS  # noqa: E402
from engine.device import channels_last, place_model, resolve_device, resolve_precision  # noqa: E402
from modelling.recognition import SignToGloss  # noqa: E402
from modelling.s3d import S3DBackbone  # noqa: E402
from modelling.visual_head import VisualHead  # noqa: E402

NUM_GLOSSES = 1100  # about PHOENIX-2014T's gloss vocabulary


def variants(device: torch.device) -> dict[str, SignToGloss]:
    """The network as trained (batch norms) and as placed for inference (folded), both channels-last."""
    torch.manual_seed(0)
    model = SignToGloss(S3DBackbone(use_block=4), VisualHead(832, NUM_GLOSSES))
    for module in model.modules():  # running statistics as training leaves them, not 0 and 1
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    folded = place_model(copy.deepcopy(model), device, inference=True)
    return {"batch norm": channels_last(model.to(device)).eval(), "folded": folded}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    args = parser.parse_args(argv)
    device = resolve_device(args.device, 0, 1)
    precision = resolve_precision(args.precision, device)
    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"S3D inference | {args.frames} frames at {args.size} px | {name}, {platform.machine()}, torch "
        f"{torch.__version__}, {precision.name} | median of {args.repeats}"
    )
    networks = variants(device)
    videos = torch.randn(1, 3, args.frames, args.size, args.size, device=device)
    videos = videos.contiguous(memory_format=torch.channels_last_3d)
    lengths = torch.tensor([args.frames], device=device)
    seconds: dict[str, list[float]] = {label: [] for label in networks}
    outputs = {}
    with torch.inference_mode(), precision.autocast():
        for round_ in range(args.repeats + 1):  # the first round is the warm-up
            for label, network in networks.items():
                sync()
                started = time.perf_counter()
                outputs[label] = network(videos, lengths).log_probs.float()
                sync()
                if round_:
                    seconds[label].append(time.perf_counter() - started)
    medians = {label: statistics.median(times) for label, times in seconds.items()}
    for label, median in medians.items():
        print(f"{label:<12} {median:8.3f} s   (min {min(seconds[label]):.3f}, max {max(seconds[label]):.3f})")
    difference = (outputs["folded"] - outputs["batch norm"]).abs().max().item()
    print(
        f"folded is {medians['batch norm'] / medians['folded']:.2f}x as fast; log-probabilities differ by "
        f"at most {difference:.1e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
