"""Named plug-ins: a :class:`Registry` maps a name (a config's ``task``, an encoder's ``type``) to what it names.

The layer that implements a kind of plug-in owns its registry (the tasks theirs, the encoders
theirs); this module only keeps the names, refuses a name given twice and names the known ones
when asked for an unknown one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from core.errors import ToolkitError

T = TypeVar("T")


class RegistryError(ToolkitError):
    """A name registered twice, or asked for and never registered."""


class Registry(Generic[T]):
    """Entries by name, in registration order; ``kind`` (e.g. "task") names them in messages."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name``; a name is registered once."""
        if name in self._entries:
            raise RegistryError(f"{self.kind} '{name}' is registered twice ({self._entries[name]!r} and {entry!r})")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator form of :meth:`add`."""
        return lambda entry: self.add(name, entry)

    def __getitem__(self, name: str) -> T:
        if name not in self._entries:
            raise RegistryError(f"unknown {self.kind} '{name}' (known: {', '.join(self._entries) or 'none'})")
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def name_of(self, entry: T) -> str:
        """The name ``entry`` was registered under."""
        return next(name for name, known in self._entries.items() if known is entry)
