"""Benchmark: the Sign2Gloss input pipeline on a PHOENIX-shaped fake set, per storage layout.

    python benchmarks/s2g_input_pipeline.py [--workdir runs/benchmark_input] [--videos 48]
        [--layouts frames zip file] [--workers 0 2] [--batch-size 8] [--epochs 3]
        [--end-to-end [--train-override KEY=VALUE ...] [--s2t [--g2t-override ...] [--s2t-override ...]]]

Writes (once) a fake set shaped like PHOENIX-2014T: ``--videos`` clips of 80-160 frames at 210x260
(the toy renderer's signers, scaled up), stored as PNG frame folders (``frames``), JPEG frame folders
in one zip (``zip``) and H.264 mp4 files (``file``). For each layout it reports:

- decoding in one process: clips/s and sampled frames/s of the training dataset (frames read,
  sampled with a random temporal rescale and scaled to ``--decode-size`` as they are decoded);
- the training DataLoader alone (length-bucketed shuffled batches, collation, pinned when a GPU is
  there) with each ``--workers`` count: clips/s over the epochs after the first, and the median
  wait for an epoch's first batch, with persistent workers (what training.py uses) and without.

With ``--end-to-end``, it also runs ``training.py`` with ``phoenix-2014t_s2g.yaml`` (random S3D
start; ``--train-override KEY=VALUE`` changes it) on the fake set in each layout, and reports its
clips/s over the epochs after the first (from ``train.log``'s per-step lines, 1 s resolution) and,
where ``nvidia-smi`` is there, the share of that time the GPU was busy (sampled every 200 ms). Then
it runs ``extract_feature.py`` with the trained run on the training split and reports its clips/s
over the whole run, start-up included, and the GPU's busy share. With ``--s2t`` as well, it trains a
Gloss2Text run for a few steps on the fake set's glosses and texts (``phoenix-2014t_g2t.yaml``, the
S2G run's gloss vocabulary; ``--g2t-override``), then times Sign2Text end to end on the videos
(``phoenix-2014t_s2t.yaml`` from both runs, no stored features; ``--s2t-override``) the same way.

The model's side is ``benchmarks/s2g_throughput.py``; the ratio of the two says whether the GPU
would wait for data.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from PIL import Image
from torch.utils.data import DataLoader

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.config import VideoConfig  # noqa: E402
from core.run_directory import RunDirectory  # noqa: E402
from dataset.batching import BucketBatchSampler  # noqa: E402
from dataset.sign_video import VideoExample  # noqa: E402
from dataset.toy_sign_language import write_records  # noqa: E402
from dataset.toy_sign_video import render_glosses, signer_style, write_frame_folder  # noqa: E402
from dataset.video_preprocessing import VideoPreprocessing  # noqa: E402
from dataset.video_reader import write_video_file  # noqa: E402

GLOSSES = ["BOOK", "BUY", "CAR", "APPLE", "SUN", "RAIN", "TOMORROW", "SCHOOL", "DOCTOR", "LIKE"]
WORDS = [gloss.lower() for gloss in GLOSSES]  # the fake texts
TEMPLATES = {"frames": "{name}", "zip": "{name}", "file": "{name}.mp4"}
CONFIGS = ROOT / "experiments" / "configs"
CONFIG, G2T_CONFIG, S2T_CONFIG = (CONFIGS / f"phoenix-2014t_{task}.yaml" for task in ("s2g", "g2t", "s2t"))
STEP_LINE = re.compile(r"^(\S+ \S+) INFO step (\d+) epoch (\d+) loss ")


def fake_clip(index: int, frames: int, height: int, width: int) -> torch.Tensor:
    """``frames`` frames of a toy signer at ``height``x``width`` (rendered small, scaled up smoothly)."""
    rng = random.Random(index)
    rendered = render_glosses(rng.sample(GLOSSES, 6), signer_style(f"Signer{index % 8}", index), size=64)
    rendered = rendered[torch.linspace(0, len(rendered) - 1, frames).round().long()]
    scaled = F.interpolate(rendered.permute(0, 3, 1, 2).float(), size=(height, width), mode="bilinear")
    return scaled.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def write_fake_set(root: Path, videos: int, height: int, width: int) -> dict[str, int]:
    """The fake set in the three layouts under ``root`` (written once): each clip's name and frame count."""
    clips = {f"clip{i:04d}": random.Random(i).randint(80, 160) for i in range(videos)}
    done = root / f"done-{videos}-{height}x{width}"
    if done.is_file():
        return clips
    for layout in ("file", "zip"):
        (root / layout).mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(layout_root(root, "zip"), "w") as archive:
        for index, (name, frames) in enumerate(clips.items()):
            clip = fake_clip(index, frames, height, width)
            write_frame_folder(clip, root / "frames" / name)
            write_video_file(clip, root / "file" / f"{name}.mp4", lossless=False)
            for frame_index, frame in enumerate(clip.numpy()):
                buffer = io.BytesIO()
                Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
                archive.writestr(f"{name}/images{frame_index:04d}.jpg", buffer.getvalue())
    done.touch()
    return clips


def layout_root(root: Path, layout: str) -> Path:
    """Where the fake set is stored in ``layout``: a folder, or the zip file."""
    return root / "zip" / "videos.zip" if layout == "zip" else root / layout


def preprocessing(root: Path, layout: str, args: argparse.Namespace) -> VideoPreprocessing:
    location = layout_root(root, layout)
    video = VideoConfig(str(location), layout, TEMPLATES[layout], img_size=args.img_size, decode_size=args.decode_size)
    return VideoPreprocessing(video, seed=0)


def examples_of(pipeline: VideoPreprocessing, clips: dict[str, int]) -> list[VideoExample]:
    return [VideoExample(name, pipeline.source.location("train", name), [4, 5], "", n) for name, n in clips.items()]


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def decode_rate(pipeline: VideoPreprocessing, examples: list[VideoExample]) -> tuple[float, float]:
    """Clips/s and sampled frames/s of the training dataset read item by item in this process."""
    dataset = pipeline.dataset(examples, training=True)
    started, frames = time.perf_counter(), 0
    for index in range(len(dataset)):
        frames += len(dataset[index].frames)  # an unreadable clip would stop here: the set is made to be read
    seconds = time.perf_counter() - started
    return len(dataset) / seconds, frames / seconds


def loader_rate(
    pipeline: VideoPreprocessing, examples: list[VideoExample], workers: int, persistent: bool, args: argparse.Namespace
) -> tuple[float, float]:
    """Clips/s of the training DataLoader over epochs 2.., and the median wait for an epoch's first batch."""
    dataset = pipeline.dataset(examples, training=True)
    sampler = BucketBatchSampler([e.length for e in examples], args.batch_size, shuffle=True, seed=0)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=pipeline.collate,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=persistent and workers > 0,
        prefetch_factor=4 if workers else None,
    )
    waits, clips, seconds = [], 0, 0.0
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        dataset.set_epoch(epoch)
        started = time.perf_counter()
        first = None
        for batch in loader:
            first = first or time.perf_counter() - started
            if epoch:
                clips += len(batch["names"])
        if epoch:
            waits.append(first)
            seconds += time.perf_counter() - started
    return clips / seconds, statistics.median(waits)


def training_config(root: Path, clips: dict[str, int], layout: str, args: argparse.Namespace) -> Path:
    """A phoenix-2014t_s2g.yaml run on the fake set in ``layout``, validated only after its last epoch."""
    run = root / f"train-{layout}"
    shutil.rmtree(run, ignore_errors=True)
    records = [
        {"name": name, "gloss": "BOOK BUY CAR", "text": " ".join(random.Random(name).sample(WORDS, 5)), "num_frames": n}
        for name, n in clips.items()
    ]
    for split, part in (("train", records), ("dev", records[:4]), ("test", records[:4])):
        write_records(part, run / f"fake.{split}")
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    config["data"].update({split: str(run / f"fake.{split}") for split in ("train", "dev", "test")})
    config["data"]["video"].update(root=str(layout_root(root, layout)), format=layout, path=TEMPLATES[layout])
    config["data"]["video"].update(img_size=args.img_size, decode_size=args.decode_size)
    config["recognition"]["encoder"]["weights"] = None
    config["training"].update(model_dir=str(run / "model"), epochs=args.epochs, validate_every=args.epochs, log_every=1)
    config["training"].update(batch_size=args.batch_size, num_workers=max(args.workers))
    return write_yaml(config, run / "training.yaml")


def run_script(script: str, config: Path, overrides: list[str], *extra: str) -> None:
    """Run one of the project's scripts with ``config`` and ``overrides`` (KEY=VALUE); its error if it fails."""
    command = [sys.executable, str(ROOT / script), "--config", str(config), *extra]
    command += [item for override in overrides for item in ("-o", override)]
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{script} failed on the fake set:\n{done.stderr.strip()[-2000:]}")


def gpu_busy_sampler(samples: list[tuple[float, float]]) -> subprocess.Popen | None:
    """nvidia-smi's GPU utilisation every 200 ms into ``samples`` (time, percent), if nvidia-smi is there."""
    if shutil.which("nvidia-smi") is None:
        return None
    command = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    def read() -> None:
        for line in process.stdout:
            if line.strip().isdigit():
                samples.append((time.time(), float(line)))

    threading.Thread(target=read, daemon=True).start()
    return process


def end_to_end(root: Path, clips: dict[str, int], layout: str, args: argparse.Namespace) -> str:
    """training.py on the fake set (clips/s after the first epoch, the GPU's busy share), then extraction."""
    config = training_config(root, clips, layout, args)
    row = f"{timed_training(config, args.train_override, args)} | extract_feature.py: {extraction(config, clips, args)}"
    if args.s2t:
        row += f" | S2T on video: {timed_training(s2t_config(config, args), args.s2t_override, args)}"
    return row


def timed_training(config: Path, overrides: list[str], args: argparse.Namespace) -> str:
    """training.py with ``config``: clips/s over the epochs after the first, and the GPU's busy share then."""
    samples: list[tuple[float, float]] = []
    sampler = gpu_busy_sampler(samples)
    try:
        run_script("training.py", config, overrides)
    finally:
        if sampler is not None:
            sampler.terminate()
    log = RunDirectory(config.parent / "model").log
    steps = [STEP_LINE.match(line) for line in log.read_text(encoding="utf-8").splitlines()]
    steps = [(datetime.fromisoformat(m[1]).timestamp(), int(m[2]), int(m[3])) for m in steps if m]
    start = max(t for t, _, epoch in steps if epoch == 0)
    timed = [(t, step) for t, step, epoch in steps if epoch > 0]
    seconds = max(timed[-1][0] - start, 1.0)
    busy = [percent for t, percent in samples if start <= t <= timed[-1][0] + 1]
    return f"{len(timed) * args.batch_size / seconds:.1f} clips/s{busy_share(busy)}"


def s2t_config(s2g_config: Path, args: argparse.Namespace) -> Path:
    """A phoenix-2014t_s2t.yaml run on the fake videos from the S2G run and a G2T run trained here for it."""
    s2g = yaml.safe_load(s2g_config.read_text(encoding="utf-8"))
    splits = {split: s2g["data"][split] for split in ("train", "dev", "test")}
    g2t = yaml.safe_load(G2T_CONFIG.read_text(encoding="utf-8"))
    g2t["data"].update(splits)
    s2g_run = RunDirectory(Path(s2g["training"]["model_dir"]))
    g2t["tokenizer"].update(gloss_vocab=str(s2g_run.gloss_vocab), text_vocab_size=100)
    g2t_dir = s2g_config.parent.parent / f"{s2g_config.parent.name}-g2t"
    g2t["training"].update(model_dir=str(g2t_dir / "model"), epochs=1, max_steps=2, validate_every=1, num_workers=0)
    shutil.rmtree(g2t_dir, ignore_errors=True)
    run_script("training.py", write_yaml(g2t, g2t_dir / "training.yaml"), args.g2t_override)

    config = yaml.safe_load(S2T_CONFIG.read_text(encoding="utf-8"))
    config["data"].update(splits, video=s2g["data"]["video"])
    config["s2t"].update(s2g_run=str(s2g_run.root), g2t_run=str(g2t_dir / "model"), features=None)
    s2t_dir = s2g_config.parent.parent / f"{s2g_config.parent.name}-s2t"
    shutil.rmtree(s2t_dir, ignore_errors=True)
    config["training"].update(model_dir=str(s2t_dir / "model"), epochs=args.epochs, validate_every=args.epochs)
    config["training"].update(log_every=1, batch_size=args.batch_size, num_workers=max(args.workers))
    return write_yaml(config, s2t_dir / "training.yaml")


def write_yaml(config: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def busy_share(percents: list[float]) -> str:
    """ ", GPU busy N%" from nvidia-smi samples; nothing without them."""
    return f", GPU busy {statistics.mean(percents):.0f}%" if percents else ""


def extraction(config: Path, clips: dict[str, int], args: argparse.Namespace) -> str:
    """extract_feature.py with the run training.py just left: train-split clips/s, start-up included."""
    samples: list[tuple[float, float]] = []
    sampler = gpu_busy_sampler(samples)
    started = time.time()
    try:
        output = ["--output-dir", str(config.parent / "features")]
        run_script("extract_feature.py", config, args.train_override, "--splits", "train", *output)
    finally:
        if sampler is not None:
            sampler.terminate()
    seconds = time.time() - started
    return f"{len(clips) / seconds:.1f} clips/s{busy_share([percent for _, percent in samples])}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=str(ROOT / "runs" / "benchmark_input"))
    parser.add_argument("--videos", type=int, default=48)
    parser.add_argument("--height", type=int, default=260)
    parser.add_argument("--width", type=int, default=210)
    parser.add_argument("--layouts", nargs="+", choices=sorted(TEMPLATES), default=["frames", "zip", "file"])
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3, help="the first is a warm-up")
    parser.add_argument("--img-size", type=int, default=224)
    parser.add_argument("--decode-size", type=int, default=256)
    parser.add_argument("--end-to-end", action="store_true", help="also time training.py on the fake set")
    parser.add_argument("--train-override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--s2t", action="store_true", help="with --end-to-end: also time Sign2Text on the videos")
    parser.add_argument("--g2t-override", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--s2t-override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is a warm-up)")
    if args.s2t and not args.end_to_end:
        parser.error("--s2t needs --end-to-end (Sign2Text starts from the S2G run it trains)")
    root = Path(args.workdir)
    clips = write_fake_set(root, args.videos, args.height, args.width)
    frames = sum(clips.values())
    print(
        f"S2G input pipeline | {args.videos} clips, {frames} frames at {args.width}x{args.height}, decoded to "
        f"{args.decode_size} px | batch {args.batch_size}, {args.epochs - 1} timed epochs | torch {torch.__version__}"
    )
    print(f"{'layout':<8}{'MB':>8}{'clips/s 1 proc':>16}{'frames/s':>10}   loader clips/s (first-batch wait s)")
    for layout in args.layouts:
        pipeline = preprocessing(root, layout, args)
        examples = examples_of(pipeline, clips)
        clip_rate, frame_rate = decode_rate(pipeline, examples)
        loaders = []
        for workers in args.workers:
            for persistent in (True, False) if workers else (False,):
                rate, wait = loader_rate(pipeline, examples, workers, persistent, args)
                kind = f"{workers}w{' persistent' if persistent else ''}"
                loaders.append(f"{kind}: {rate:.1f} ({wait:.2f})")
        row = (
            f"{layout:<8}{size_mb(layout_root(root, layout)):>8.0f}{clip_rate:>16.1f}{frame_rate:>10.0f}   "
            + "; ".join(loaders)
        )
        if args.end_to_end:
            row += f" | training.py: {end_to_end(root, clips, layout, args)}"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
