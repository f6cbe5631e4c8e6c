"""The task registry: the :class:`~engine.task_protocol.Task` class named by a config's ``task`` key."""

from __future__ import annotations

from core.config import Config
from core.errors import ToolkitError
from engine.distributed import DistributedContext
from engine.gloss_to_text_task import GlossToTextTask
from engine.sign_to_gloss_task import SignToGlossTask
from engine.sign_to_text_task import SignToTextTask
from engine.task_protocol import Task

TASKS: dict[str, type[Task]] = {"g2t": GlossToTextTask, "s2g": SignToGlossTask, "s2t": SignToTextTask}


def build_task(config: Config, context: DistributedContext, expected: type[Task] | None = None, user: str = "") -> Task:
    """The task the config names; ``user`` (a script) that needs the ``expected`` one says so if it is another."""
    task = TASKS[config.task]
    if expected is not None and task is not expected:
        wanted = next(name for name, cls in TASKS.items() if cls is expected)
        raise ToolkitError(f"{user} needs an {wanted} config, got task '{config.task}'")  # s2g, s2t: "an"
    return task(config, context)
