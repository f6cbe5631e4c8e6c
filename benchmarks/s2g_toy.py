"""Benchmark: Sign2Gloss on the built-in toy sign-language videos, on this machine.

    python benchmarks/s2g_toy.py [--model-dir runs/benchmark_toy_s2g] [-o KEY=VALUE ...]

Renders the toy videos (first use), trains ``experiments/configs/synthetic_s2g.yaml`` (S3D from a
random start, blocks 1-4, 32 px), evaluates the best checkpoint (by dev WER) with CTC beam search
and prints dev/test WER with substitutions/deletions/insertions and the wall time.
Target on the 2-core CPU: test WER <= 5%.
"""

from __future__ import annotations

import argparse
import sys

from training_run import ROOT, train_and_report

CONFIG = ROOT / "experiments" / "configs" / "synthetic_s2g.yaml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default=str(ROOT / "runs" / "benchmark_toy_s2g"))
    parser.add_argument("-o", "--override", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    return train_and_report(CONFIG, args.model_dir, args.override, "S2G toy videos")


if __name__ == "__main__":
    sys.exit(main())
