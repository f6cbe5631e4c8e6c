"""The stage tasks, their registry and their shared parts; importing the package registers the built-in tasks.

A task of another package registers itself the same way (``engine.tasks.registry.register_task``)
when its module is imported.
"""

from engine.tasks import gloss_to_text, sign_to_gloss, sign_to_text  # noqa: F401  (registers them)
