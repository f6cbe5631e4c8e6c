"""Benchmark: Gloss2Text from scratch on the real PHOENIX-2014T annotations, on this machine.

    python benchmarks/g2t_phoenix.py [--data-dir ../shared/data/phoenix-2014t] [-o KEY=VALUE ...]

Trains ``experiments/configs/phoenix-2014t_g2t.yaml`` on the ``*_cleaned`` splits, evaluates the
best checkpoint (by dev BLEU-4) with beam search, and prints dev/test BLEU-1..4, ROUGE-L and the
wall time, then the minutes per phase. Target on the 2-core CPU: test BLEU-4 >= 25 within 30 minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from training_run import ROOT, train_and_report

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
    return train_and_report(CONFIG, args.model_dir, overrides + args.override, "G2T PHOENIX-2014T from scratch")


if __name__ == "__main__":
    sys.exit(main())
