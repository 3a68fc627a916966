"""One registry shape for everything that extends by registration (models, job kinds, graph
views, ingest formats): a name -> spec mapping, the built-in entries loaded on first use, and
one error that lists the known names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Named specs of one kind of extension.

    Args:
        what: what an entry is, for messages ("model", "job kind", ...).
        load: imports the built-in entries (they register themselves), called on first use.
        error: builds the exception for an unknown name from its message.
    """

    def __init__(self, what: str, load: Callable[[], None] | None = None,
                 error: Callable[[str], Exception] = ValueError) -> None:
        self.what, self._load, self._error = what, load, error
        self._items: dict[str, T] = {}

    def register(self, name: str, spec: T) -> T:
        """Add (or replace, e.g. on a module reload) the entry ``name``."""
        self._items[name] = spec
        return spec

    def all(self) -> dict[str, T]:
        """Every entry, the built-in ones first."""
        if self._load is not None:
            self._load()
        return dict(self._items)

    def get(self, name: str) -> T:
        known = self.all()
        if name not in known:
            raise self._error(f"unknown {self.what} {name!r}; known {self.what}s: "
                              f"{', '.join(known)}")
        return known[name]
