"""Extract encoder (S3D, the pose encoder) features of every sample with a trained S2G checkpoint's encoder,
for S2T training.

``[torchrun --nproc_per_node N] extract_feature.py --config S2G.yaml [--ckpt PATH] [--splits ...]``

Any task with ``encoder_of(model)`` (and ``encoder_metadata()``) can be extracted; its input source
gives the inputs in groups of equal length (``equal_length_inputs``). Writes
``<output-dir>/<split>.pt`` (default ``<model_dir>/features``): per sample the encoder's output
``T'×C`` (what the visual head consumes), taken from all frames (up to ``max_frames``) with the
evaluation centre crop. Samples are batched only with samples of the same length, so none is
padded and its features do not depend on its batch. Ranks share each split's samples;
an interrupted job resumes where it stopped; a split whose store exists is skipped.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from core.config import Config
from core.run_directory import RunDirectory
from dataset.batching import equal_length_batches
from dataset.feature_store import finished_names, merge_parts, store_path, write_part
from engine.checkpoint import load_checkpoint, load_matching_model
from engine.cli import add_common_arguments, run_cli
from engine.device import place_model
from engine.distributed import DistributedContext, barrier
from engine.progress import progress_bar
from engine.run_logging import get_logger, setup_logger
from engine.task_protocol import Task
from engine.tasks.registry import build_task

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


def encoder_features(task: Task, encoder: torch.nn.Module, batch: dict, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """The encoder's features of each sample of ``batch``, run in groups of equal input length (none padded)."""
    features = {}
    for rows, inputs, lengths in task.inputs.equal_length_inputs(batch):
        with task.context.precision.autocast():
            output, output_lengths = encoder(inputs, lengths)
        output, output_lengths = output.to("cpu", dtype), output_lengths.tolist()  # one copy to the host per group
        for row, index in enumerate(rows):
            features[batch["names"][index]] = output[row, : output_lengths[row]].clone()
    return features


@dataclass
class ExtractionSettings:
    """What to extract: the checkpoint, the splits, where and how the stores are written."""

    ckpt: Path
    output_dir: Path
    splits: list[str]
    dtype: str = "float32"
    save_every: int = 100  # samples per part file (the resume granularity)
    batch_size: int = 8  # samples per forward pass (only equal-length ones)


@torch.no_grad()
def extract_split(task: Task, encoder: torch.nn.Module, split: str, settings: ExtractionSettings) -> Counter:
    """Extract this rank's share of the unfinished samples of ``split``; rank 0 merges the parts."""
    context, output_dir = task.context, settings.output_dir
    examples = task.split(split).examples
    done = finished_names(output_dir, split)
    todo = [i for i, e in enumerate(examples) if e.name not in done]
    batches = equal_length_batches([task.inputs.length(examples[i]) for i in todo], settings.batch_size)
    loader = DataLoader(
        task.dataset(split, training=False),
        batch_sampler=[[todo[i] for i in batch] for batch in batches[context.rank :: context.world_size]],
        collate_fn=task.collator(),
        num_workers=task.config.training.num_workers,
    )
    features: dict[str, torch.Tensor] = {}
    skipped: dict[str, str] = {}
    for batch in progress_bar(loader, desc=f"extract {split}", enabled=context.is_main):
        skipped.update(batch.get("skipped", {}))  # inputs held in memory skip nothing
        if batch["names"]:  # some input of the batch was readable
            features.update(encoder_features(task, encoder, batch, DTYPES[settings.dtype]))
        if len(features) + len(skipped) >= settings.save_every:
            write_part(output_dir, split, context.rank, features, skipped)
            features, skipped = {}, {}
    if features or skipped:
        write_part(output_dir, split, context.rank, features, skipped)
    barrier()
    counts = Counter({"taken over from an interrupted run": len(done)})
    if context.is_main:
        store = merge_parts(output_dir, split, _metadata(task, settings))
        counts.update({"stored": len(store["features"]), "unreadable videos skipped": len(store["skipped"])})
        for name, reason in store["skipped"].items():
            get_logger().warning("%s: skipped %s: %s", split, name, reason)
    barrier()
    return counts


def _metadata(task: Task, settings: ExtractionSettings) -> dict:
    """What the store records of how its features were made."""
    video = task.config.data.video
    return {
        "checkpoint": str(settings.ckpt),
        **task.encoder_metadata(),
        **({"img_size": video.img_size, "max_frames": video.max_frames} if video is not None else {}),
        "dtype": settings.dtype,
        "precision": task.context.precision.name,
    }


def extract(
    config: Config, context: DistributedContext, settings: ExtractionSettings, user: str = "extract_feature.py"
) -> dict[str, Counter]:
    """The encoder features of ``settings.splits`` by the checkpoint's encoder; a split stored already is skipped."""
    task = build_task(config, context, "encoder_of", user)
    if context.is_main:
        settings.output_dir.mkdir(parents=True, exist_ok=True)
    task.prepare(create=False)
    model = load_matching_model(task, load_checkpoint(settings.ckpt), settings.ckpt)
    encoder = task.encoder_of(place_model(model, context.device, inference=True)).eval()
    summary = {}
    for split in settings.splits:
        if store_path(settings.output_dir, split).is_file():
            summary[split] = Counter({"already done (store exists)": len(task.split(split).examples)})
            continue
        summary[split] = extract_split(task, encoder, split, settings)
    if context.is_main:
        for split, counts in summary.items():
            print(f"{split}: {dict(counts)} -> {store_path(settings.output_dir, split)}", flush=True)
    return summary


def settings_of(args: argparse.Namespace, config: Config) -> ExtractionSettings:
    """The command line's settings, with the run's best checkpoint and features folder as defaults."""
    run = RunDirectory.of(config)
    return ExtractionSettings(
        Path(args.ckpt or run.best_checkpoint),
        Path(args.output_dir or run.features),
        args.splits,
        args.dtype,
        args.save_every,
        args.batch_size,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def job(config: Config, context: DistributedContext) -> dict[str, Counter]:
        setup_logger(None, context.is_main)
        return extract(config, context, settings_of(args, config), f"{args.config}: extract_feature.py")

    return run_cli(args, job)
