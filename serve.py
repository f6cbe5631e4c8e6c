"""Serve a trained Sign2Text run over HTTP: a JSON API and a web page to drop a video on.

    python serve.py --run RUN_DIR [--host 127.0.0.1] [--port 8000] [--cascade | --backend onnx [--onnx DIR]]
        [--max-upload-mb 50] [--max-seconds 60] [--max-batch 8] [--max-wait-ms 50] [--max-queue 32]
        [--no-warm-up]

Then open http://127.0.0.1:8000/ , or ``curl -F video=@clip.mp4 http://127.0.0.1:8000/translate``.
The model is loaded once, on this machine's best device unless ``--device``/``--precision`` say
otherwise, and translates a short grey clip before the service opens, so that the first request is
not the one to pay for the start-up (CUDA's libraries and graphs); ``--no-warm-up`` skips it. The
code is serving/app.py.
"""

from __future__ import annotations

import argparse
import sys

import uvicorn

from core.config import Config
from core.run_directory import ExportDirectory
from deployment.video_translation import VideoTranslator
from engine.cli import add_device_arguments, run_cli, use_run_directory
from engine.distributed import DistributedContext
from serving.app import ServiceLimits, create_app
from serving.warm_up import WARM_UP_SECONDS, warm_up

LIMIT_FIELDS = {"max_upload_mb": float, "max_seconds": float, "max_batch": int, "max_wait_ms": float, "max_queue": int}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", metavar="RUN_DIR", required=True, help="a trained S2T run directory")
    parser.add_argument("--cascade", action="store_true", help="serve the run's S2G + G2T cascade instead")
    parser.add_argument(
        "--backend", choices=["torch", "onnx"], default="torch", help="onnx: the run's export on onnxruntime"
    )
    parser.add_argument("--onnx", metavar="DIR", help="the ONNX export (default: RUN_DIR/onnx, as export.py writes)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to be reachable from other machines")
    parser.add_argument("--port", type=int, default=8000)
    defaults = ServiceLimits()
    for name, kind in LIMIT_FIELDS.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=getattr(defaults, name))
    warm_up_help = f"open at once, without translating a {WARM_UP_SECONDS:g} s clip first"
    parser.add_argument("--no-warm-up", action="store_true", help=warm_up_help)
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    if args.backend == "onnx" and args.cascade:
        parser.error("--backend onnx serves the joint model of an exported run, not the cascade")
    use_run_directory(parser, args)
    return args


def serve(args: argparse.Namespace, config: Config, context: DistributedContext) -> None:
    if args.backend == "onnx":
        from deployment.onnx_backend import CUDA, OnnxTranslator, execution_providers  # onnxruntime: this backend only

        providers = execution_providers(args.device)
        translator = OnnxTranslator(ExportDirectory(args.onnx), providers)
        model, device, precision = f"{args.onnx} (joint, onnxruntime)", "cuda" if CUDA in providers else "cpu", "fp32"
    else:
        translator = VideoTranslator.build(config, context, args.ckpt, args.cascade, f"{args.run}: serve.py")
        model = f"{args.run} ({'cascade' if args.cascade else 'joint'})"
        device, precision = str(context.device), context.precision.name
    limits = ServiceLimits(**{name: getattr(args, name) for name in LIMIT_FIELDS})
    description: dict[str, str | float] = {"model": model, "device": device, "precision": precision}
    if not args.no_warm_up:
        seconds = warm_up(translator)
        description["warm_up_seconds"] = round(seconds, 2)
        print(f"warmed up: a {WARM_UP_SECONDS:g} s clip translated in {seconds:.2f} s", flush=True)
    app = create_app(translator, limits, description)
    print(f"serving {model} on http://{args.host}:{args.port}/ ({description['device']})", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, limit_concurrency=limits.max_queue * 2, log_level="warning")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(args, lambda config, context: serve(args, config, context))


if __name__ == "__main__":
    sys.exit(main())
