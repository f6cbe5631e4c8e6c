"""Shared by the training benchmarks: run training.py on a config and print the report's table."""

from __future__ import annotations

import json
import platform
import re
import sys
import time
from datetime import datetime
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.run_directory import RunDirectory  # noqa: E402
from engine.jobs import training_run as training  # noqa: E402


def train_and_report(config: Path, model_dir: str, overrides: list[str], title: str) -> int:
    """Train ``config`` into the fresh ``model_dir``; print dev/test metrics and the wall time."""
    if Path(model_dir).exists():
        print(f"{model_dir} exists: remove it or pass --model-dir", file=sys.stderr)
        return 2
    overrides = [f"training.model_dir={model_dir}", *overrides]
    started = time.perf_counter()
    status = training.main(["--config", str(config)] + [item for o in overrides for item in ("-o", o)])
    wall = time.perf_counter() - started
    if status:
        return status
    report = json.loads(RunDirectory(Path(model_dir)).predictions.report.read_text())
    print(
        f"\n{title} | {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__} | overrides: {overrides[1:]}"
    )
    print(f"{'split':8}" + "".join(f"{m:>10}" for m in report["dev"]["metrics"]))
    for split in ("dev", "test"):
        print(f"{split:8}" + "".join(f"{v:10.2f}" for v in report[split]["metrics"].values()))
    print(f"wall time (data preparation + training + validation + final evaluation): {wall / 60:.1f} min")
    print(phases(RunDirectory(Path(model_dir)).log.read_text(encoding="utf-8")))
    return 0


def print_markdown_table(title: str, columns: list[str], rows: list[list]) -> None:
    """``title`` with this machine and torch, then ``rows`` as a Markdown table under ``columns``."""
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"\n{title} | {machine}, torch {torch.__version__}")
    print("| " + " | ".join(columns) + " |\n|" + " --- |" * len(columns))
    print("\n".join("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows))


STAMP = r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) "


def phases(log: str) -> str:
    """Minutes per phase, read from a run's ``train.log``: training steps, the dev validations, the final
    evaluation (from the last validation to the report), and the training steps per second."""
    stamps = [datetime.fromisoformat(m.group(1)) for m in re.finditer(STAMP, log, re.MULTILINE)]
    validations = [
        (datetime.fromisoformat(m.group(1)), int(m.group(2)), float(m.group(3)))
        for m in re.finditer(STAMP + r"INFO step (\d+) dev: .* \((\d+)s\)", log, re.MULTILINE)
    ]
    if not stamps or not validations:
        return "phases: no validation in train.log"
    last, steps, _ = validations[-1]
    validating = sum(seconds for *_, seconds in validations)
    training = (last - stamps[0]).total_seconds() - validating
    final = (stamps[-1] - last).total_seconds()
    return (
        f"phases: training {training / 60:.1f} min ({steps / training:.2f} steps/s), "
        f"{len(validations)} validations {validating / 60:.1f} min "
        f"({', '.join(f'{s:.0f}' for *_, s in validations)} s), final evaluation {final / 60:.1f} min"
    )
