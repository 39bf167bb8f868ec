"""A registry that refuses ambiguity: the one mechanism behind piiflow's registries (column operators and their
implementations, recognizers). Registering a name that is taken raises at import time, naming both places."""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(dict[str, T], Generic[T]):
    """``{name: item}`` for one kind of thing (``kind`` names it in errors). :meth:`add` refuses a name twice."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._origins: dict[str, str] = {}

    def add(self, name: str, item: T, origin: str) -> T:
        """Register ``item`` (defined in ``origin``, a module or class name) under ``name``; returns ``item``."""
        if name in self:
            raise ValueError(f"{self.kind} {name!r} is registered twice ({self._origins[name]} and {origin}); "
                             f"{self.kind} names must be unique")
        self[name] = item
        self._origins[name] = origin
        return item
