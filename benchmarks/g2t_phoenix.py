"""Benchmark: Gloss2Text from scratch on the real PHOENIX-2014T annotations, on this machine.

    python benchmarks/g2t_phoenix.py [--data-dir ../shared/data/phoenix-2014t] [-o KEY=VALUE ...]

Trains ``experiments/configs/phoenix-2014t_g2t.yaml`` on the ``*_cleaned`` splits, evaluates the
best checkpoint (by dev BLEU-4) with beam search, and prints dev/test BLEU-1..4, ROUGE-L and the
wall time. Target on the 2-core CPU: test BLEU-4 >= 24 within 60 minutes.
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

CONFIG = ROOT / "experiments" / "configs" / "phoenix-2014t_g2t.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "phoenix-2014t"))
    parser.add_argument("--model-dir", default=str(ROOT / "runs" / "benchmark_phoenix_g2t"))
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    data = Path(args.data_dir)
    if not (data / "phoenix-2014t_cleaned.train").is_file():
        print(f"PHOENIX-2014T annotations not found in {data}", file=sys.stderr)
        return 2
    overrides = [f"data.{split}={data / f'phoenix-2014t_cleaned.{split}'}" for split in ("train", "dev", "test")]
    overrides += [f"training.model_dir={args.model_dir}", *args.override]
    argv = ["--config", str(CONFIG)] + [item for o in overrides for item in ("-o", o)]
    if Path(args.model_dir).exists():
        print(f"{args.model_dir} exists: remove it or pass --model-dir", file=sys.stderr)
        return 2
    started = time.perf_counter()
    status = training.main(argv)
    wall = time.perf_counter() - started
    if status:
        return status
    report = json.loads((Path(args.model_dir) / "predictions" / "report.json").read_text())
    print(
        f"\nG2T PHOENIX-2014T from scratch | {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__} | overrides: {args.override}"
    )
    print(f"{'split':8}" + "".join(f"{m:>10}" for m in report["dev"]["metrics"]))
    for split in ("dev", "test"):
        print(f"{split:8}" + "".join(f"{v:10.2f}" for v in report[split]["metrics"].values()))
    print(f"wall time (training + validation + final evaluation): {wall / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
