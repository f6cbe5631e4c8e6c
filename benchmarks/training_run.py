"""Shared by the training benchmarks: run training.py on a config and print the report's table."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.run_directory import RunDirectory  # noqa: E402
from engine import training_run as training  # noqa: E402


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
    return 0
