"""The part of asyncpg the PostgreSQL stores use, typed (asyncpg ships no type information).

Re-exported by :mod:`llmteam.backends.postgres`; stores import them from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Protocol

__all__ = ["PgAcquire", "PgConnection", "PgPool", "PgQueries", "PgRecord", "PgTransaction"]


class PgRecord(Protocol):
    """A result row (``asyncpg.Record``): indexed by position or column name, iterable as a tuple."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...


class PgTransaction(Protocol):
    """``async with conn.transaction():`` commits on success, rolls back on an exception."""

    async def __aenter__(self) -> object: ...
    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None, /) -> bool | None: ...


class PgQueries(Protocol):
    """The queries a pool and a connection both run (each on a connection of its own for a pool)."""

    async def execute(self, query: str, *args: object, timeout: float | None = None) -> str: ...
    async def executemany(self, command: str, args: Iterable[Sequence[object]], *,
                          timeout: float | None = None) -> None: ...
    async def fetch(self, query: str, *args: object, timeout: float | None = None) -> list[PgRecord]: ...
    async def fetchrow(self, query: str, *args: object, timeout: float | None = None) -> PgRecord | None: ...
    async def fetchval(self, query: str, *args: object, column: int = 0, timeout: float | None = None) -> Any: ...


class PgConnection(PgQueries, Protocol):
    """One connection borrowed from a pool (``asyncpg.Connection``)."""

    def transaction(self) -> PgTransaction: ...
    def is_closed(self) -> bool: ...
    def is_in_transaction(self) -> bool: ...
    def terminate(self) -> None: ...


class PgAcquire(Protocol):
    """``async with pool.acquire() as conn``."""

    async def __aenter__(self) -> PgConnection: ...
    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None, /) -> bool | None: ...


class PgPool(PgQueries, Protocol):
    """An asyncpg pool (``asyncpg.Pool``), or the :class:`ServerPool` wrapping one: what every store queries."""

    def acquire(self, *, timeout: float | None = None) -> PgAcquire: ...
    async def close(self) -> None: ...
