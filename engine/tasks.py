"""The task registry: the :class:`~engine.task_protocol.Task` class named by a config's ``task`` key."""

from __future__ import annotations

from core.config import Config
from engine.distributed import DistributedContext
from engine.gloss_to_text_task import GlossToTextTask
from engine.sign_to_gloss_task import SignToGlossTask
from engine.sign_to_text_task import SignToTextTask
from engine.task_protocol import Task

TASKS: dict[str, type[Task]] = {"g2t": GlossToTextTask, "s2g": SignToGlossTask, "s2t": SignToTextTask}


def build_task(config: Config, context: DistributedContext) -> Task:
    return TASKS[config.task](config, context)
