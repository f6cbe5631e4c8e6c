"""What the command-line entry points share: common arguments and error reporting."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from engine.distributed import DistributedContext, cleanup_distributed, setup_distributed
from engine.errors import ToolkitError


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="experiment YAML, e.g. experiments/configs/synthetic_g2t.yaml")
    parser.add_argument(
        "-o",
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key, e.g. -o training.learning_rate=1e-4 (repeatable)",
    )


def run_cli(job: Callable[[DistributedContext], None]) -> int:
    """Run ``job`` in the torchrun process group; bad input ends with one message and exit code 2."""
    context = setup_distributed()
    try:
        job(context)
    except (ToolkitError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        cleanup_distributed()
    return 0
