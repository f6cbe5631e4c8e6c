"""Run logging: a console + file logger on rank 0 and TensorBoard summaries."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

LOGGER_NAME = "slt"


def setup_logger(log_file: Path | None, is_main: bool) -> logging.Logger:
    """The toolkit's logger: INFO to stderr and ``log_file`` (a run's ``train.log``) on rank 0, warnings elsewhere."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if is_main and log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def summary_writer(directory: Path, is_main: bool) -> SummaryWriter | None:
    """A TensorBoard writer into ``directory`` (a run's ``tensorboard/``) on rank 0, ``None`` elsewhere."""
    return SummaryWriter(log_dir=str(directory)) if is_main else None
