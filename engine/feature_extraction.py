"""Extract S3D features of every sample with a trained S2G checkpoint's backbone, for S2T training.

``[torchrun --nproc_per_node N] extract_feature.py --config S2G.yaml [--ckpt PATH] [--splits ...]``

Writes ``<output-dir>/<split>.pt`` (default ``<model_dir>/features``): per sample the backbone's
output ``T'×C`` (what the visual head consumes), taken from all frames (up to ``max_frames``) with
the evaluation centre crop. Videos are batched only with videos of the same frame count, so no
sample is padded and its features do not depend on its batch. Ranks share each split's samples;
an interrupted job resumes where it stopped; a split whose store exists is skipped.
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from core.config import Config
from core.run_directory import RunDirectory
from dataset.feature_store import finished_names, merge_parts, store_path, write_part
from engine.checkpoint import load_checkpoint
from engine.cli import add_common_arguments, run_cli
from engine.device import place_model
from engine.distributed import DistributedContext, barrier
from engine.prediction import load_matching_model
from engine.progress import progress_bar
from engine.run_logging import get_logger, setup_logger
from engine.sign_to_gloss_task import SignToGlossTask
from engine.tasks import build_task

DTYPES = {"float32": torch.float32, "float16": torch.float16}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--ckpt", help="S2G checkpoint (default: <model_dir>/best.ckpt)")
    parser.add_argument("--splits", nargs="+", default=["train", "dev", "test"], choices=["train", "dev", "test"])
    parser.add_argument("--output-dir", help="where the stores go (default: <model_dir>/features)")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32", help="stored feature precision")
    parser.add_argument("--save-every", type=int, default=100, help="samples per part file (the resume granularity)")
    parser.add_argument("--batch-size", type=int, default=8, help="videos per forward pass (only equal-length ones)")
    return parser.parse_args(argv)


def equal_length_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Batches of at most ``batch_size`` positions into ``lengths`` that share one length, shortest first."""
    groups: dict[int, list[int]] = defaultdict(list)
    for position, length in enumerate(lengths):
        groups[length].append(position)
    return [group[k : k + batch_size] for _, group in sorted(groups.items()) for k in range(0, len(group), batch_size)]


def backbone_features(
    task: SignToGlossTask, backbone: torch.nn.Module, batch: dict, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Features of each video of ``batch``, run in groups of equal frame count so that none is padded."""
    features = {}
    for length in batch["lengths"].unique().tolist():
        rows = (batch["lengths"] == length).nonzero().flatten()
        clips = batch["frames"][rows, :length]
        videos = task.inputs.preprocessing.network_input(clips, task.context.device, training=False)
        with task.context.precision.autocast():
            output, lengths = backbone(videos, batch["lengths"][rows])
        output, lengths = output.to("cpu", dtype), lengths.tolist()  # one copy to the host per group
        for row, index in enumerate(rows.tolist()):
            features[batch["names"][index]] = output[row, : lengths[row]].clone()
    return features


@torch.no_grad()
def extract_split(
    task: SignToGlossTask,
    backbone: torch.nn.Module,
    split: str,
    output_dir: Path,
    args: argparse.Namespace,
) -> Counter:
    """Extract this rank's share of the unfinished samples of ``split``; rank 0 merges the parts."""
    context = task.context
    examples = task.split(split).examples
    done = finished_names(output_dir, split)
    todo = [i for i, e in enumerate(examples) if e.name not in done]
    batches = equal_length_batches([task.example_length(examples[i]) for i in todo], args.batch_size)
    loader = DataLoader(
        task.dataset(split, training=False),
        batch_sampler=[[todo[i] for i in batch] for batch in batches[context.rank :: context.world_size]],
        collate_fn=task.collator(),
        num_workers=task.config.training.num_workers,
    )
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    for batch in progress_bar(loader, desc=f"extract {split}", enabled=context.is_main):
        skipped.update(batch["skipped"])
        if batch["frames"] is not None:
            features.update(backbone_features(task, backbone, batch, DTYPES[args.dtype]))
        if len(features) + len(skipped) >= args.save_every:
            write_part(output_dir, split, context.rank, features, skipped)
            features, skipped = {}, {}
    if features or skipped:
        write_part(output_dir, split, context.rank, features, skipped)
    barrier()
    counts = Counter({"taken over from an interrupted run": len(done)})
    if context.is_main:
        store = merge_parts(output_dir, split, _metadata(task, args))
        counts.update({"stored": len(store["features"]), "unreadable videos skipped": len(store["skipped"])})
        for name, reason in store["skipped"].items():
            get_logger().warning("%s: skipped %s: %s", split, name, reason)
    barrier()
    return counts


def _metadata(task: SignToGlossTask, args: argparse.Namespace) -> dict:
    video, recognition = task.config.data.video, task.config.recognition
    return {
        "checkpoint": str(args.ckpt),
        "use_block": recognition.use_block,
        "img_size": video.img_size,
        "max_frames": video.max_frames,
        "dtype": args.dtype,
        "precision": task.context.precision.name,
    }


def extract(args: argparse.Namespace, config: Config, context: DistributedContext) -> dict[str, Counter]:
    setup_logger(None, context.is_main)
    task = build_task(config, context, SignToGlossTask, f"{args.config}: extract_feature.py")
    run = RunDirectory.of(config)
    args.ckpt = args.ckpt or run.best_checkpoint
    output_dir = Path(args.output_dir or run.features)
    if context.is_main:
        output_dir.mkdir(parents=True, exist_ok=True)
    task.prepare(create=False)
    model = load_matching_model(task, load_checkpoint(args.ckpt), args.ckpt)
    model = place_model(model, context.device, inference=True)
    backbone = model.backbone.eval()
    summary = {}
    for split in args.splits:
        if store_path(output_dir, split).is_file():
            summary[split] = Counter({"already done (store exists)": len(task.split(split).examples)})
            continue
        summary[split] = extract_split(task, backbone, split, output_dir, args)
    if context.is_main:
        for split, counts in summary.items():
            print(f"{split}: {dict(counts)} -> {store_path(output_dir, split)}", flush=True)
    return summary


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: extract(args, config, context))
