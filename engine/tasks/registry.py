"""The task registry: a config's ``task`` names a class registered with ``@register_task``.

In the style of fairseq's ``register_task(name, dataclass=...)``: a task registers itself with its
name and the config sections it reads (dataclasses), so the config layer validates them without
naming any task. A task class may also define ``check_config(config, source)`` (consistency checks
of a built config) and ``resolve_config(raw, source)`` (filling the raw mapping first, e.g. from
upstream runs); both raise :class:`~core.config.ConfigError`.
"""

from __future__ import annotations

from core.config import Config, TaskSchema, register_task_schema
from core.errors import ToolkitError
from core.registry import Registry
from engine.distributed import DistributedContext
from engine.task_protocol import Task

TASKS: Registry[type[Task]] = Registry("task")


def register_task(name: str, sections: dict[str, type]):
    """Class decorator: register task class ``cls`` as ``name`` with its config ``sections`` (name -> dataclass)."""

    def register(cls: type) -> type:
        check, resolve = getattr(cls, "check_config", None), getattr(cls, "resolve_config", None)
        register_task_schema(name, TaskSchema(dict(sections), check, resolve))
        cls.name = name
        return TASKS.add(name, cls)

    return register


def build_task(config: Config, context: DistributedContext, needs: str | None = None, user: str = "") -> Task:
    """The task the config names; ``user`` (a script) needing a task with method ``needs`` says so if it has none."""
    task = TASKS[config.task]
    if needs is not None and not hasattr(task, needs):
        wanted = " or ".join(name for name in TASKS if hasattr(TASKS[name], needs))
        raise ToolkitError(f"{user} needs an {wanted} config, got task '{config.task}'")  # s2g, s2t: "an"
    return task(config, context)
