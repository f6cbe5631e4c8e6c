"""The task named by a config's ``task`` key."""

from __future__ import annotations

from engine.config import Config
from engine.distributed import DistributedContext
from engine.gloss_to_text_task import GlossToTextTask

TASKS = {"g2t": GlossToTextTask}


def build_task(config: Config, context: DistributedContext) -> GlossToTextTask:
    return TASKS[config.task](config, context)
