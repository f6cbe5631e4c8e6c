"""What the command-line entry points share: common arguments, device set-up and error reporting."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from core.config import DEVICES, PRECISIONS, Config, load_config
from core.errors import ToolkitError
from core.run_directory import RunDirectory
from engine.distributed import DistributedContext, SharedFailure, barrier, cleanup_distributed, setup_distributed


def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """``--device`` and ``--precision``, which override ``training.device`` and ``training.precision``."""
    parser.add_argument(
        "--device", choices=DEVICES, help="where to compute (default: the config's training.device, auto)"
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="fp32, or autocast to bf16 / fp16 (default: the config's training.precision, auto: bf16 on a GPU "
        "that supports it, else fp32)",
    )


def add_common_arguments(parser: argparse.ArgumentParser, config_required: bool = True) -> None:
    parser.add_argument(
        "--config", required=config_required, help="experiment YAML, e.g. experiments/configs/synthetic_g2t.yaml"
    )
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. -o training.learning_rate=1e-4 (repeatable)",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first (repeatable): the tasks, encoders and config sections it registers become usable",
    )
    add_device_arguments(parser)


def device_overrides(args: argparse.Namespace) -> list[str]:
    """The config overrides that ``--device`` and ``--precision`` stand for."""
    chosen = {"device": args.device, "precision": args.precision}
    return [f"training.{key}={value}" for key, value in chosen.items() if value is not None]


def use_run_directory(
    parser: argparse.ArgumentParser, args: argparse.Namespace, device: str = "auto", precision: str = "auto"
) -> RunDirectory:
    """Read ``--run RUN_DIR`` as its ``config.yaml``, best checkpoint (unless ``--ckpt``) and ONNX export (unless
    ``--onnx``), on ``device`` and ``precision`` unless the command line names them; a folder that is no run is a
    usage error naming it."""
    run = RunDirectory(Path(args.run))
    if not run.config.is_file():
        parser.error(f"--run {args.run}: no {run.config.name} there (not a trained run directory)")
    args.config = str(run.config)
    args.ckpt = getattr(args, "ckpt", None) or str(run.best_checkpoint)
    args.override = getattr(args, "override", [])
    args.onnx = Path(getattr(args, "onnx", None) or run.onnx)
    args.device = getattr(args, "device", None) or device
    args.precision = getattr(args, "precision", None) or precision
    return run


def import_plugins(modules: list[str]) -> None:
    """Import each plug-in module (a dotted name on ``sys.path``); one that cannot be imported is named."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ToolkitError(f"--plugin {module}: cannot import it: {error}") from error


def run_cli(args: argparse.Namespace, job: Callable[[Config, DistributedContext], None]) -> int:
    """Load the config, join the torchrun process group on the configured device, run ``job``.

    ``job`` gets the config with ``training.device`` and ``training.precision`` resolved to what
    this process uses. Bad input ends with one message and exit code 2.
    """
    try:
        import_plugins(getattr(args, "plugin", []))
        config = load_config(args.config, [*args.override, *device_overrides(args)])
        context = setup_distributed(config.training.device, config.training.precision)
        training = dataclasses.replace(config.training, device=context.device.type, precision=context.precision.name)
        job(config.replace(training=training), context)
    except (ToolkitError, FileNotFoundError) as error:
        shared = isinstance(error, SharedFailure)
        if shared and error.__cause__ is not None and not isinstance(error.__cause__, ToolkitError | OSError):
            traceback.print_exception(error.__cause__)  # rank 0 met a bug, not bad input: show where
        sys.stderr.write(f"error: {error}\n")  # one write: ranks sharing a stderr pipe never split a line
        sys.stderr.flush()
        if shared:  # every rank raised it: leave together, so torchrun stops none before it has said why
            barrier()
        return 2
    finally:
        cleanup_distributed()
    return 0
