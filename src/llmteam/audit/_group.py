"""Group commit: concurrent write-through ``log()`` calls of one trail share one durable store transaction.

A durable commit costs one disk flush (``fsync``) whatever its size, so a trail whose store sets
``group_commit = True`` (SQLite, PostgreSQL) does not write each ``log()`` call on its own. Callers queue their
validated fields and wait; one committer task takes everything queued (up to :data:`MAX_GROUP`), links the
records at each tenant's chain head under that tenant's lock, appends them with ``append_many`` in one
transaction and only then wakes the callers. While one group is being flushed the next one accumulates, so no
timer or artificial delay is needed: a lone caller is written at once, many callers share a flush.

A caller that finds no commit in progress yields to the event loop once (so callers that are ready too can
queue), and if it is still alone it commits its own record in its own task through ``commit_one``: no committer
task, future or outcome list on the path of a sequential caller. With ``yield_first=False`` (a store whose commit
always awaits a server round trip) it commits at once: callers ready in the same turn queue while that commit is
in flight and share the next one.

A sequential caller does not pay that yield (a whole event-loop turn) on every call: the task whose last commit
was a lone one, with nobody queued during it, commits its next record at once, without a future. Every
:data:`SEQUENTIAL_RUN` such commits it yields once again, so other tasks that became ready meanwhile run and can
join it (and a task logging in a tight loop never keeps the loop from the rest for long); as soon as anybody
joins or queues, the next caller yields again and groups form as before.

A failed group was rolled back as a whole, so nothing in it was acknowledged. If another writer took a
sequence number the heads are reloaded and the whole group is re-linked and retried; if no head moved the
failure is real, and with several tenants in the group each tenant's records are retried on their own so
one tenant's failure is not reported to another's callers.
"""

from __future__ import annotations

import asyncio
import types
import weakref
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from llmteam.audit._record import AuditRecord

__all__ = ["MAX_GROUP", "SEQUENTIAL_RUN", "Entry", "GroupCommitter"]

MAX_GROUP = 1000
# A sequential caller (see above) commits at most this many records in a row without yielding to the event loop.
SEQUENTIAL_RUN = 8

# (tenant, validated fields, the caller's future)
Entry = tuple[str, dict[str, Any], "asyncio.Future[AuditRecord]"]
Outcome = list["AuditRecord | BaseException"]


@types.coroutine
def _yield_once() -> Generator[None, None, None]:
    """Let every task that is ready run once before this one resumes (what ``asyncio.sleep(0)`` does)."""
    yield


class GroupCommitter:
    """Queues write-through log() calls and commits them in groups through ``commit(entries) -> outcomes``.

    ``commit_one(tenant, fields) -> record`` commits a lone caller's record; by default it goes through ``commit``.
    ``yield_first``: a caller that finds no commit in progress first lets the other ready tasks queue (see above).
    """

    def __init__(
        self,
        commit: Callable[[list[Entry]], Awaitable[Outcome]],
        commit_one: Callable[[str, dict[str, Any]], Awaitable[AuditRecord]] | None = None,
        *,
        yield_first: bool = True,
    ) -> None:
        self._commit = commit
        self._yield_first = yield_first
        self._commit_one = commit_one or self._one_through_commit
        self._pending: list[Entry] = []
        self._task: asyncio.Task[Any] | None = None  # the committer: a task of ours or a lone caller's
        # the task whose last commit was lone with nobody queued during it, and its commits since it last yielded
        self._sequential: weakref.ref[asyncio.Task[Any]] | None = None
        self._unyielded = 0
        self.groups = 0  # number of transactions issued (for tests and benchmarks)

    async def _one_through_commit(self, tenant: str, fields: dict[str, Any]) -> AuditRecord:
        outcome = (await self._commit([(tenant, fields, asyncio.get_running_loop().create_future())]))[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def submit(self, tenant: str, fields: dict[str, Any]) -> AuditRecord:
        """Queue one record for ``tenant`` and return it once it is committed (durable on return).

        With no commit in progress the caller yields once so ready callers can queue too (a sequential caller
        only every :data:`SEQUENTIAL_RUN` calls); if it is still alone it commits its record in its own task
        (saving the hop to a committer task), otherwise it hands the queue to a committer task. Whatever queued
        during a commit goes to a committer task after it.
        """
        me = asyncio.current_task()  # raises outside a running loop, like get_running_loop()
        loop = asyncio.get_running_loop() if me is None else me.get_loop()  # a task's loop: no second lookup
        task = self._task
        if task is not None and not task.done() and task.get_loop() is not loop:
            if not task.get_loop().is_closed():
                raise RuntimeError(
                    "this audit trail is committing on another event loop; use one AuditTrail per event loop"
                )
            self._pending = []  # the old loop is gone, and its callers with it
            task = None
        if task is not None and not task.done():  # a commit is in flight: join the next group
            return await self._queue(loop, tenant, fields)
        if me is None:  # pragma: no cover - submit() always runs in a task
            self._task = loop.create_task(self._run())
            return await self._queue(loop, tenant, fields)
        fut: asyncio.Future[AuditRecord] | None = None
        self._task = me
        try:
            seq = self._sequential  # a sequential caller (see the module docstring) commits without yielding:
            if seq is not None and seq() is me and self._unyielded < SEQUENTIAL_RUN and not self._pending:
                self._unyielded += 1  # ...up to SEQUENTIAL_RUN times in a row
            else:
                fut = loop.create_future()
                self._pending.append((tenant, fields, fut))
                if self._yield_first:
                    await _yield_once()
                if len(self._pending) == 1:  # still alone
                    self._pending.clear()
                    fut = None
                    self._alone(me)
            if fut is None:  # alone: commit it here; a cancel then only hits this caller
                self.groups += 1
                return await self._commit_one(tenant, fields)
        except asyncio.CancelledError:
            if fut is not None:
                fut.cancel()  # never written after its caller was cancelled
            raise
        finally:
            self._task = None
            if self._pending:  # others joined this caller or queued during its commit: a committer task takes them
                self._sequential = None
                self._task = loop.create_task(self._run())
        return await fut

    def _alone(self, me: asyncio.Task[Any]) -> None:
        """``me`` yielded and nobody joined it: it is the sequential caller from now on."""
        seq = self._sequential
        if seq is None or seq() is not me:
            self._sequential = weakref.ref(me)
        self._unyielded = 0

    async def _queue(self, loop: asyncio.AbstractEventLoop, tenant: str, fields: dict[str, Any]) -> AuditRecord:
        """Queue the record for the running committer and wait for its outcome."""
        fut: asyncio.Future[AuditRecord] = loop.create_future()
        self._pending.append((tenant, fields, fut))
        return await fut

    async def _run(self) -> None:
        while self._pending:
            await self._commit_next()

    async def _commit_next(self) -> None:
        """Commit the next group of queued entries and settle their callers' futures."""
        batch, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
        # a caller cancelled before its record was taken is not written
        batch = [e for e in batch if not e[2].done()]
        if not batch:
            return
        self.groups += 1
        try:
            outcomes = await self._commit(batch)
        except asyncio.CancelledError:
            for _, _, fut in batch:
                fut.cancel()
            raise
        except Exception as exc:  # handed to every caller of the group
            outcomes = [exc] * len(batch)
        for (_, _, fut), outcome in zip(batch, outcomes, strict=True):
            if fut.done():
                continue  # the caller was cancelled while its record was being committed
            if isinstance(outcome, BaseException):
                fut.set_exception(outcome)
            else:
                fut.set_result(outcome)
