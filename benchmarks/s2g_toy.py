"""Benchmark: Sign2Gloss on the built-in toy sign-language videos, on this machine.

    python benchmarks/s2g_toy.py [--model-dir runs/benchmark_toy_s2g] [-o KEY=VALUE ...]

Renders the toy videos (first use), trains ``experiments/configs/synthetic_s2g.yaml`` (S3D from a
random start, blocks 1-4, 32 px), evaluates the best checkpoint (by dev WER) with CTC beam search
and prints dev/test WER with substitutions/deletions/insertions and the wall time.
Target on the 2-core CPU: test WER <= 5%.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import training  # noqa: E402

CONFIG = ROOT / "experiments" / "configs" / "synthetic_s2g.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=str(ROOT / "runs" / "benchmark_toy_s2g"))
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if Path(args.model_dir).exists():
        print(f"{args.model_dir} exists: remove it or pass --model-dir", file=sys.stderr)
        return 2
    overrides = [f"training.model_dir={args.model_dir}", *args.override]
    started = time.perf_counter()
    status = training.main(["--config", str(CONFIG)] + [item for o in overrides for item in ("-o", o)])
    wall = time.perf_counter() - started
    if status:
        return status
    report = json.loads((Path(args.model_dir) / "predictions" / "report.json").read_text())
    print(
        f"\nS2G toy videos | {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__} | overrides: {args.override}"
    )
    print(f"{'split':8}" + "".join(f"{m:>10}" for m in report["dev"]["metrics"]))
    for split in ("dev", "test"):
        print(f"{split:8}" + "".join(f"{v:10.2f}" for v in report[split]["metrics"].values()))
    print(f"wall time (video rendering on first use + training + validation + final evaluation): {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
