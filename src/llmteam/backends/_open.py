"""``open_store``: the one URL-to-store dispatch every ``open_*`` function of a module delegates to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from llmteam.backends._base import Backend, backend_of
from llmteam.backends.postgres import PostgresBackend
from llmteam.backends.sqlite import SQLiteBackend

__all__ = ["open_store"]

S = TypeVar("S")


def open_store(
    target: str | Backend,
    *,
    memory: Callable[[], S],
    sqlite: Callable[[SQLiteBackend], S],
    postgres: Callable[[PostgresBackend], S],
) -> S:
    """The store a factory builds on the backend of ``target`` (a URL, or an open backend the store then shares).

    The store takes its own reference to the backend; nothing connects until the store is first used.
    """
    backend = backend_of(target, ("memory", "sqlite", "postgresql"))
    try:
        if isinstance(backend, SQLiteBackend):
            return sqlite(backend)
        if isinstance(backend, PostgresBackend):
            return postgres(backend)
        return memory()
    finally:
        backend.handoff()
