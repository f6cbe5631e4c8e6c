"""Benchmark: Sign2Gloss on the toy language with each input stream, the same data and the same steps.

    python benchmarks/s2g_streams.py [--epochs 2] [--variants video pose_mlp pose_s3d two_stream]

Trains ``experiments/configs/synthetic_s2g_two_stream.yaml`` (the toy videos and, beside them, the
toy signer's keypoints) once per variant, each with the same batches and steps: ``video`` (S3D
over the videos, as ``synthetic_s2g.yaml``), ``pose_mlp`` (the light pose encoder over the
keypoints), ``pose_s3d`` (the keypoint S3D over their heatmaps) and ``two_stream`` (both S3Ds with
lateral connections). Prints test WER (the two-stream network's per head too) and training minutes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import yaml
from training_run import ROOT, print_markdown_table

from core.config import read_config_file
from core.run_directory import RunDirectory
from engine.jobs import training_run as training

CONFIG = ROOT / "experiments" / "configs" / "synthetic_s2g_two_stream.yaml"
ENCODERS = {
    "video": {"type": "s3d", "use_block": 4, "freeze_block": 2, "bn_momentum": 0.1},
    "pose_mlp": {"type": "pose_mlp", "part_width": 32, "width": 64},
    "pose_s3d": {"type": "pose_s3d", "use_block": 4, "map_size": 16, "sigma": 1.0, "bn_momentum": 0.1},
    "two_stream": None,  # the config's own
}


def variant_config(name: str, epochs: int, model_dir: Path) -> dict:
    """The two-stream config with ``name``'s encoder, ``epochs`` epochs (validated at the end) into ``model_dir``;
    ``two_stream`` starts from the ``video`` and ``pose_s3d`` runs beside it where they were trained first."""
    raw = read_config_file(CONFIG)
    if ENCODERS[name] is not None:
        raw["recognition"]["encoder"] = dict(ENCODERS[name])
    starts = {"video_run": model_dir.with_name("video"), "keypoint_run": model_dir.with_name("pose_s3d")}
    if ENCODERS[name] is None and all(run.is_dir() for run in starts.values()):
        raw["recognition"]["encoder"].update({key: str(run) for key, run in starts.items()})
    raw["training"].update(epochs=epochs, validate_every=epochs, model_dir=str(model_dir))
    return raw


def train(name: str, epochs: int, root: Path) -> tuple[dict, float]:
    """Train one variant; its test metrics and training wall minutes."""
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(variant_config(name, epochs, root / name)), encoding="utf-8")
    started = time.perf_counter()
    if training.main(["--config", str(path)]):
        raise SystemExit(f"{name}: training failed")
    minutes = (time.perf_counter() - started) / 60
    report = json.loads(RunDirectory(root / name).predictions.report.read_text(encoding="utf-8"))
    return report["test"]["metrics"], minutes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--variants", nargs="+", choices=list(ENCODERS), default=list(ENCODERS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="s2g_streams_") as root:
        for name in args.variants:
            metrics, minutes = train(name, args.epochs, Path(root))
            heads = ", ".join(f"{k[4:]} {v:.2f}" for k, v in metrics.items() if k.startswith("wer_"))
            rows.append([name, f"{metrics['wer']:.2f}", heads or "–", f"{minutes:.1f}"])
    columns = ["encoder", "test WER", "per head", "minutes (data, training, evaluation)"]
    print_markdown_table(f"S2G on the toy videos and keypoints, {args.epochs} epochs of batch 16", columns, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
