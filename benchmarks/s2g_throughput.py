"""Benchmark: Sign2Gloss training throughput (clips/s) at several image sizes, on CPU or GPU.

    python benchmarks/s2g_throughput.py [--sizes 112 224] [--frames 64] [--batch-size 4] [--steps 5]
        [--device auto|cpu|cuda] [--precision auto|fp32|bf16|fp16] [--compile]

Times full training steps of the paper's S2G network (S3D blocks 1-4 with block 1 frozen, visual
head 512/2048, CTC on 10-gloss targets): batched augmentation of uint8 frames, forward, backward,
AdamW step, with the device and precision chosen as training.py chooses them (auto: bf16 autocast on
a GPU that supports it, fp32 on the CPU; fp16 scales the loss). Prints the median step time and
clips/s per size (the first step is a warm-up and not counted). ``--compile`` runs the network
through ``torch.compile`` (it traces as one graph: ``tests/test_recognition.py``); the warm-up step
then includes the compilation.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import DEVICES, PRECISIONS  # noqa: E402
from dataset.video_transforms import prepare_videos  # noqa: E402
from engine.device import Precision, resolve_device, resolve_precision  # noqa: E402
from modelling.recognition import SignToGloss, ctc_loss  # noqa: E402
from modelling.s3d import S3DBackbone  # noqa: E402
from modelling.visual_head import VisualHead  # noqa: E402

NUM_GLOSSES = 1100  # about PHOENIX-2014T's gloss vocabulary


def time_steps(size: int, args: argparse.Namespace, device: torch.device, precision: Precision) -> list[float]:
    """Seconds per training step at ``size`` pixels (warm-up step excluded)."""
    model = SignToGloss(S3DBackbone(use_block=4, freeze_block=1), VisualHead(832, NUM_GLOSSES)).to(device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    network = torch.compile(model) if args.compile else model
    frames = torch.randint(0, 256, (args.batch_size, args.frames, 260, 210, 3), dtype=torch.uint8)
    lengths = torch.full((args.batch_size,), args.frames, device=device)
    targets = [list(range(4, 14))] * args.batch_size
    scaler = precision.grad_scaler()
    times = []
    for _ in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with precision.autocast():
            videos = prepare_videos(frames.to(device, non_blocking=True), size, training=True)
            output = network(videos, lengths)
            loss = ctc_loss(output.log_probs, output.lengths, targets).loss
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", choices=DEVICES, default="auto")
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    parser.add_argument("--compile", action="store_true", help="run the network through torch.compile")
    args = parser.parse_args()
    device = resolve_device(args.device, local_rank=0, local_world_size=1)
    precision = resolve_precision(args.precision, device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(
        f"S2G training throughput | {name}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"{precision.name}{', torch.compile' if args.compile else ''} | batch {args.batch_size} x {args.frames} frames"
    )
    print(f"{'size':>6}{'median s/step':>15}{'clips/s':>10}")
    for size in args.sizes:
        median = statistics.median(time_steps(size, args, device, precision))
        print(f"{size:>6}{median:>15.2f}{args.batch_size / median:>10.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
