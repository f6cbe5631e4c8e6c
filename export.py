"""Export a trained Sign2Text run to ONNX, checked against PyTorch on the spot (the code is deployment/onnx_export.py).

    python export.py --run RUN_DIR [--output DIR]

Writes ``recognition.onnx`` (video -> gloss log-probabilities and features), ``encoder.onnx`` and
``decoder.onnx`` (one step, with past keys and values), the vocabularies and ``export.json`` to
DIR (default: RUN_DIR/onnx), all with dynamic batch and lengths. Then
``python translate.py --backend onnx --run RUN_DIR VIDEO`` runs them on onnxruntime.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.config import Config
from core.run_directory import ExportDirectory
from deployment.onnx_export import export_run
from deployment.video_translation import VideoTranslator
from engine.cli import run_cli, use_run_directory
from engine.distributed import DistributedContext


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", metavar="RUN_DIR", required=True, help="a trained S2T run directory")
    parser.add_argument("--output", metavar="DIR", help="where the export goes (default: RUN_DIR/onnx)")
    args = parser.parse_args(argv)
    run = use_run_directory(parser, args, device="cpu", precision="fp32")  # exported in fp32 from the CPU
    args.output = Path(args.output) if args.output else run.onnx
    return args


def export(args: argparse.Namespace, config: Config, context: DistributedContext) -> None:
    translator = VideoTranslator.build(config, context, args.ckpt, False, f"{args.run}: export.py")
    checks = export_run(translator, ExportDirectory(args.output))
    worst = max(check.worst for check in checks)
    print(f"exported {args.run} to {args.output} (largest difference from PyTorch: {worst:.2e})", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: export(args, config, context))


if __name__ == "__main__":
    sys.exit(main())
