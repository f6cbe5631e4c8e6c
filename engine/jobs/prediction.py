"""Evaluate a checkpoint: ``prediction.py --config CONFIG.yaml [--ckpt PATH] [--splits dev test]``.

Writes ``<split>.hyp.tsv`` (name, hypothesis, reference) and ``report.json`` into the output
directory (default ``<model_dir>/predictions``) and prints the score table. For Sign2Text with
both ``s2t.s2g_checkpoint`` and ``s2t.g2t_checkpoint`` set (by default the best of ``s2t.s2g_run``
and ``s2t.g2t_run``), the cascade S2G -> G2T is scored too (rows ``<split>-cascade``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from torch import nn

from core.config import Config
from core.run_directory import PredictionFiles, RunDirectory
from engine.checkpoint import load_checkpoint, load_matching_model
from engine.cli import add_common_arguments, run_cli
from engine.device import place_model
from engine.distributed import DistributedContext
from engine.run_logging import get_logger, setup_logger
from engine.task_protocol import Task
from engine.tasks.registry import build_task
from evaluation.report import EvaluationResult, format_table, write_hypotheses, write_report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--ckpt", help="checkpoint to evaluate (default: <model_dir>/best.ckpt)")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"], choices=["train", "dev", "test"])
    parser.add_argument(
        "--output-dir", help="where to write hypotheses and the report (default: <model_dir>/predictions)"
    )
    return parser.parse_args(argv)


def predict(
    config: Config,
    context: DistributedContext,
    ckpt: str | Path,
    splits: list[str],
    output_dir: str | Path | None = None,
    task: Task | None = None,
    model: nn.Module | None = None,
) -> list[EvaluationResult]:
    """Load ``ckpt``, evaluate it on ``splits``, write hypotheses and the report, print the table."""
    state = load_checkpoint(ckpt)
    if task is None:
        task = build_task(config, context)
        task.prepare(create=False)
    model = place_model(load_matching_model(task, state, ckpt, model), context.device)
    results = [task.evaluate(model, split) for split in splits]
    results += [row for split in splits for row in task.comparisons(split)]  # e.g. Sign2Text's cascade
    if context.is_main:
        files = PredictionFiles(Path(output_dir)) if output_dir else RunDirectory.of(config).predictions
        files.root.mkdir(parents=True, exist_ok=True)
        for result in results:
            write_hypotheses(result, files.hypotheses(result.split))
        write_report(results, files.report, {"checkpoint": str(ckpt), "step": state["step"]})
        get_logger().info("wrote hypotheses and %s to %s", files.report.name, files.root)
        print(format_table(results), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def job(config: Config, context: DistributedContext) -> None:
        setup_logger(None, context.is_main)
        ckpt = args.ckpt or RunDirectory.of(config).best_checkpoint
        predict(config, context, ckpt, args.splits, args.output_dir)

    return run_cli(args, job)
