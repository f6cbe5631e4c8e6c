"""Train a model: ``[torchrun --nproc_per_node N] training.py --config CONFIG.yaml [--resume [CKPT]]``.

Under ``torchrun --max-restarts N``, a job restarted after a rank failed goes on from the newest
checkpoint in ``model_dir`` by itself.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.atomic_files import remove_stale_temporaries
from core.config import Config, save_config
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from engine.checkpoint import CheckpointError, latest_checkpoint
from engine.cli import add_common_arguments, run_cli
from engine.distributed import DistributedContext, barrier, restart_count, run_on_main
from engine.jobs.prediction import predict
from engine.run_logging import get_logger, setup_logger
from engine.run_start import restored_on_failure
from engine.task_protocol import Task
from engine.tasks.registry import build_task
from engine.trainer import Trainer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    add_common_arguments(parser)
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        metavar="CKPT",
        help="continue from CKPT, or from the newest step_<N>.ckpt in model_dir when CKPT is omitted",
    )
    return parser.parse_args(argv)


def checkpoint_to_resume(resume: str | None, run: RunDirectory, restarted: bool = False) -> Path | None:
    """The checkpoint ``--resume`` names (``latest``: the newest in ``model_dir``), checked before any file is written.

    Without ``--resume``, a ``model_dir`` that holds checkpoints is refused rather than overwritten. A
    job torchrun ``restarted`` goes on from its newest checkpoint, if it wrote one before the failure.
    """
    if restarted and run.step_checkpoints():
        return latest_checkpoint(run)
    if resume is None:
        if run.step_checkpoints():
            raise ToolkitError(
                f"{run.root} already holds checkpoints: pass --resume to continue, or choose another training.model_dir"
            )
        return None
    path = latest_checkpoint(run) if resume == "latest" else Path(resume)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    return path


def start(
    args: argparse.Namespace, config: Config, context: DistributedContext, task: Task, resume_from: Path | None
) -> Trainer:
    """Write the run's config, log and vocabularies, build the trainer and resume it from ``resume_from``."""
    run = RunDirectory.of(config)
    setup_logger(run.log, context.is_main)
    barrier()
    if context.is_main:
        save_config(config, run.config)
    get_logger().info(
        "task %s, config %s, model_dir %s; device %s, precision %s",
        config.task,
        args.config,
        run.root,
        context.device,
        context.precision.name,
    )
    if restart_count() > 0:
        get_logger().info("torchrun restart %d after a rank failed: resuming from %s", restart_count(), resume_from)
    task.prepare(create=True)
    trainer = Trainer(config, task, context)
    if resume_from is not None:
        trainer.resume(resume_from)
    return trainer


def train(args: argparse.Namespace, config: Config, context: DistributedContext) -> None:
    run = RunDirectory.of(config)
    task = build_task(config, context)

    def check_before_writing() -> Path | None:
        resume_from = checkpoint_to_resume(args.resume, run, restarted=restart_count() > 0)
        task.check_training_data()
        return resume_from

    resume_from = run_on_main(check_before_writing)  # rank 0 reads; if it fails, every rank stops with its message
    with restored_on_failure(run, enabled=context.is_main):  # a failed start leaves the run as it was
        trainer = start(args, config, context, task, resume_from)
    if context.is_main:
        for path in remove_stale_temporaries(run.root):
            get_logger().info("removed %s, left by an interrupted write", path.name)
    trainer.train()
    predict(config, context, run.best_checkpoint, ["dev", "test"], task=task, model=trainer.model)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: train(args, config, context))
