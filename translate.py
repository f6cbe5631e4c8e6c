"""Translate your own sign language videos: glosses and a sentence per video file, with stage timings.

    python translate.py --run RUN_DIR VIDEO [VIDEO ...] [--json]
    python translate.py --config S2T.yaml [--ckpt PATH] VIDEO [VIDEO ...] [--json]
    python translate.py --config S2T.yaml --cascade VIDEO [...]
    python translate.py --run RUN_DIR --backend onnx [--onnx DIR] VIDEO [...]

``--run`` takes a trained S2T run directory (e.g. ``runs/demo/s2t``): its ``config.yaml`` and
``best.ckpt``, on this machine's best device unless ``--device``/``--precision`` say otherwise.
Each video's result is written as soon as it is translated (text, or one JSON object per line with
``--json``); a video that cannot be read gets its own error line and the others go on; the exit
status is 2 if any failed.

The S3D backbone and the video settings come from the config's S2G checkpoint
(``s2t.s2g_checkpoint``: by default the best of ``s2t.s2g_run``) and the config it saved, or from
the S2T model and config when it was trained end to end on video. The default model is the S2T
checkpoint (``<model_dir>/best.ckpt``); ``--cascade`` uses the S2G and G2T checkpoints of the
config instead. Runs on the GPU when there is one (``--device``, ``--precision``). ``--backend onnx``
runs the run's ONNX export (``export.py``) on onnxruntime instead of PyTorch.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from core.config import Config
from core.errors import ToolkitError
from core.run_directory import ExportDirectory
from deployment.video_translation import Translation, VideoTranslator
from engine.cli import add_common_arguments, run_cli, use_run_directory
from engine.distributed import DistributedContext
from engine.run_logging import setup_logger


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, config_required=False)
    parser.add_argument("--run", metavar="RUN_DIR", help="a trained S2T run directory, instead of --config")
    parser.add_argument("videos", nargs="+", help="video files (mp4, avi, ...)")
    parser.add_argument("--ckpt", help="S2T checkpoint (default: <model_dir>/best.ckpt)")
    parser.add_argument("--cascade", action="store_true", help="use the config's S2G + G2T checkpoints instead")
    parser.add_argument("--json", action="store_true", help="one JSON object per video and line instead of text")
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="onnx: the run's export on onnxruntime"
    )
    parser.add_argument("--onnx", metavar="DIR", help="the ONNX export (default: RUN_DIR/onnx, as export.py writes)")
    args = parser.parse_args(argv)
    if (args.run is None) == (args.config is None):
        parser.error("give either --config CONFIG.yaml or --run RUN_DIR")
    if args.backend == "onnx" and (args.run is None or args.cascade):
        parser.error("--backend onnx runs the joint model of an exported run: give --run RUN_DIR, without --cascade")
    if args.run is not None:  # the run's own config and best checkpoint, on this machine's best device
        use_run_directory(parser, args)
    return args


def translate(args: argparse.Namespace, config: Config, context: DistributedContext) -> list[Translation]:
    setup_logger(None, context.is_main)
    if args.backend == "onnx":
        from deployment.onnx_backend import OnnxTranslator, execution_providers  # onnxruntime: this backend only

        translator = OnnxTranslator(ExportDirectory(Path(args.onnx)), execution_providers(args.device))
    else:
        translator = VideoTranslator.build(config, context, args.ckpt, args.cascade, f"{args.config}: translate.py")
    results, failed = [], []
    for video in args.videos:
        try:
            results.append(translator(video))
        except ToolkitError as error:  # this video only: say why, go on with the others
            failed.append(video)
            report_failure(video, str(error), args.json)
            continue
        report(results[-1], args.json)
    if failed:
        raise ToolkitError(f"{len(failed)} of {len(args.videos)} video(s) could not be translated: {', '.join(failed)}")
    return results


def report(result: Translation, as_json: bool) -> None:
    """Write one video's result now (a JSON line, or a text block)."""
    if as_json:
        print(json.dumps(asdict(result), ensure_ascii=False), flush=True)
        return
    timing = ", ".join(f"{stage} {value:.2f} s" for stage, value in result.seconds.items())
    spans = ", ".join(f"{span.gloss} {span.start:.2f}-{span.end:.2f} s" for span in result.spans)
    lines = [result.video, f"  glosses: {result.glosses}", f"  text:    {result.text}", f"  time:    {timing}"]
    if spans:
        lines.insert(2, f"  when:    {spans}")
    if result.padded:
        lines.append(f"  note:    only {result.frames} frame(s): padded to the model's minimum, so unreliable")
    elif result.used < result.frames:
        lines.append(f"  note:    {result.frames} frames, subsampled evenly to {result.used} (data.video.max_frames)")
    print("\n".join(lines), flush=True)


def report_failure(video: str, reason: str, as_json: bool) -> None:
    """One line for a video that could not be translated: a JSON line on stdout, else an error on stderr."""
    if as_json:
        print(json.dumps({"video": video, "error": reason}, ensure_ascii=False), flush=True)
    else:
        print(f"error: {reason}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: translate(args, config, context))


if __name__ == "__main__":
    sys.exit(main())
