"""Run logging: a console + file logger on rank 0 and TensorBoard summaries."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

LOGGER_NAME = "slt"


def setup_logger(model_dir: str | Path | None, is_main: bool, filename: str = "train.log") -> logging.Logger:
    """The toolkit's logger: INFO to stderr and ``model_dir/filename`` on rank 0, warnings elsewhere."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.propagate = False
    logger.setLevel(logging.INFO if is_main else logging.WARNING)
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if is_main and model_dir is not None:
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(Path(model_dir) / filename, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def get_logger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def summary_writer(model_dir: str | Path, is_main: bool) -> SummaryWriter | None:
    """A TensorBoard writer into ``model_dir/tensorboard`` on rank 0, ``None`` elsewhere."""
    return SummaryWriter(log_dir=str(Path(model_dir) / "tensorboard")) if is_main else None
