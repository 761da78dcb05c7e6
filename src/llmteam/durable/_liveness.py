"""Worker liveness: each worker heartbeats in the system database; a live worker hands a dead one's runs on.

The table ``llmteam_workers`` (in DBOS's schema on PostgreSQL) holds one row per executor id: host, pid, the
last beat and, once the worker is found dead, who claimed it and when. Times come from the database's clock, so
workers on machines with skewed clocks still agree on who is stale. A worker whose last beat is older than
``dead_after`` is claimed by one conditional UPDATE (exactly one live worker wins), which then resumes the dead
worker's unfinished runs through DBOS's own recovery path (:func:`llmteam.durable._engine.recover_executors`).
A claim itself goes stale after ``dead_after``: the dead worker is then claimed again, which resumes any run
still PENDING under its id (one its claimer died before resuming, or one a stalled worker took just before it
learnt it had been declared dead). DBOS recovery is idempotent: it re-queues only runs still PENDING under the id.
The heartbeat runs in a thread of its own, so a busy event loop never makes a live worker look dead.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa

from llmteam.durable._errors import DurableError

logger = logging.getLogger(__name__)

TABLE = "llmteam_workers"
RETAIN_SECONDS = 7 * 86_400.0  # rows of dead, handed-over workers are deleted after a week
_NOW = {  # the database's clock in epoch seconds: constant SQL, never built from input
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from clock_timestamp())",
}


def default_executor_id() -> str:
    """A worker id unique to this process: ``host-pid-random``."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def check_periods(heartbeat: float, dead_after: float) -> None:
    """Raise a clear error unless ``0 < heartbeat`` and ``dead_after >= 2 * heartbeat``."""
    for name, value in (("heartbeat", heartbeat), ("dead_after", dead_after)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            raise DurableError(f"{name}={value!r} must be a number of seconds > 0")
    if dead_after < 2 * heartbeat:
        raise DurableError(f"dead_after={dead_after:g}s must be at least twice heartbeat={heartbeat:g}s, or a live "
                           "but busy worker would be declared dead")


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as the system database sees it: ``age`` is seconds since its last beat."""

    executor_id: str
    host: str
    pid: int
    age: float
    claimed_by: str | None
    done: bool


def _table(schema: str | None) -> sa.Table:
    return sa.Table(
        TABLE, sa.MetaData(schema=schema),
        sa.Column("executor_id", sa.String(200), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("beat_at", sa.Float, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", sa.Float, nullable=True),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
    )


class Liveness:
    """This worker's heartbeat and its watch over the others (one per serving process).

    ``recover(ids)`` resumes the unfinished runs of dead executors ``ids`` and returns how many.
    """

    def __init__(self, system_db: str, schema: str, executor_id: str, recover: Callable[[list[str]], int], *,
                 heartbeat: float = 5.0, dead_after: float = 30.0) -> None:
        check_periods(heartbeat, dead_after)
        self.executor_id = executor_id
        self.heartbeat = float(heartbeat)
        self.dead_after = float(dead_after)
        self._recover = recover
        url = sa.make_url(system_db)
        self.dialect = "sqlite" if url.drivername.startswith("sqlite") else "postgresql"
        if self.dialect == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
            self._engine = sa.create_engine(url, pool_size=1, max_overflow=1, connect_args={"connect_timeout": 10})
        else:
            self._engine = sa.create_engine(url, connect_args={"timeout": 30})
            with self._engine.begin() as c:  # WAL: one fsync per commit instead of two (synchronous stays FULL)
                c.exec_driver_sql("PRAGMA journal_mode=WAL")
        self.table = _table(schema if self.dialect == "postgresql" else None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._now = sa.literal_column(_NOW[self.dialect], sa.Float)

    # -- synchronous database work (run in a thread by the loop) -------------------------------
    def register(self) -> None:
        """Create the table if needed and (re)start this worker's row: alive now, claimed by nobody."""
        t = self.table
        try:
            with self._engine.begin() as c:
                c.execute(sa.schema.CreateTable(t, if_not_exists=True))
        except sa.exc.DBAPIError:  # two workers creating it at once on PostgreSQL: one wins, both go on
            with self._engine.begin() as c:
                c.execute(sa.select(t.c.executor_id).limit(1))
        values = {"host": socket.gethostname()[:255], "pid": os.getpid(), "beat_at": self._now,
                  "claimed_by": None, "claimed_at": None, "done": 0}
        with self._engine.begin() as c:
            if c.execute(sa.update(t).where(t.c.executor_id == self.executor_id).values(**values)).rowcount == 0:
                c.execute(sa.insert(t).values(executor_id=self.executor_id, **values))

    def beat(self) -> bool:
        """Record that this worker is alive; False if another worker has already declared it dead."""
        t = self.table
        with self._engine.begin() as c:
            done = c.execute(sa.update(t).where(t.c.executor_id == self.executor_id, t.c.claimed_by.is_(None))
                             .values(beat_at=self._now))
        return bool(done.rowcount)

    def claim(self, executor_id: str) -> bool:
        """Claim a stale worker for this one; True for exactly one claimer (a conditional UPDATE)."""
        t = self.table
        stale = self._now - self.dead_after
        with self._engine.begin() as c:
            done = c.execute(sa.update(t).where(
                t.c.executor_id == executor_id, t.c.executor_id != self.executor_id, t.c.beat_at < stale,
                sa.or_(t.c.claimed_at.is_(None), t.c.claimed_at < stale),
            ).values(claimed_by=self.executor_id, claimed_at=self._now))
        return bool(done.rowcount)

    def stale(self) -> list[str]:
        """Ids of workers whose last beat, and last claim if any, are older than ``dead_after``."""
        t = self.table
        cutoff = self._now - self.dead_after
        with self._engine.begin() as c:
            c.execute(sa.delete(t).where(t.c.done == 1, t.c.beat_at < self._now - RETAIN_SECONDS))
            rows = c.execute(sa.select(t.c.executor_id).where(
                t.c.executor_id != self.executor_id, t.c.beat_at < cutoff,
                sa.or_(t.c.claimed_at.is_(None), t.c.claimed_at < cutoff)))
            return [r[0] for r in rows]

    def hand_over(self) -> dict[str, int]:
        """Claim every stale worker this one can and resume its runs; ``{dead id: runs re-queued}``."""
        adopted: dict[str, int] = {}
        for dead in self.stale():
            if self.claim(dead):
                adopted[dead] = self._recover([dead])
                t = self.table
                with self._engine.begin() as c:  # done: handed over at least once (it is checked again later)
                    c.execute(sa.update(t).where(t.c.executor_id == dead, t.c.claimed_by == self.executor_id)
                              .values(done=1))
                if adopted[dead]:
                    logger.warning("worker %s found dead: %d of its runs re-queued by %s", dead, adopted[dead],
                                   self.executor_id)
        return adopted

    def workers(self) -> list[WorkerInfo]:
        """Every known worker, freshest beat first."""
        t = self.table
        with self._engine.begin() as c:
            rows = c.execute(sa.select(t.c.executor_id, t.c.host, t.c.pid, (self._now - t.c.beat_at).label("age"),
                                       t.c.claimed_by, t.c.done).order_by(t.c.beat_at.desc()))
            return [WorkerInfo(r[0], r[1], int(r[2]), float(r[3]), r[4], bool(r[5])) for r in rows]

    def close(self) -> None:
        """Stop beating and release the connections (the row stays: a stopped worker's runs are handed over when it
        goes stale)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(60)
        self._engine.dispose()

    # -- the heartbeat thread --------------------------------------------------------------------
    def start(self, on_declared_dead: Callable[[], None]) -> None:
        """Beat and watch every ``heartbeat`` seconds in a thread until :meth:`close`.

        If another worker has declared this one dead (it stalled longer than ``dead_after``), its runs are being
        resumed elsewhere: ``on_declared_dead`` is called (from the thread; the worker stops) rather than run
        them twice.
        """
        self._thread = threading.Thread(target=self._beat_forever, args=(on_declared_dead,), daemon=True,
                                        name=f"llmteam-liveness-{self.executor_id}")
        self._thread.start()

    def _beat_forever(self, on_declared_dead: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                alive = self.beat()
            except sa.exc.SQLAlchemyError as exc:  # a lost database: keep trying, the runs wait in it anyway
                logger.warning("worker %s heartbeat failed: %s", self.executor_id, str(exc).splitlines()[0][:300])
                alive = True
            if not alive:
                logger.error("worker %s was declared dead by another worker (no heartbeat for %gs); stopping so "
                             "its runs are not executed twice", self.executor_id, self.dead_after)
                on_declared_dead()
                return
            try:
                self.hand_over()
            except Exception:  # never let a failed hand-off stop this worker's own heartbeat
                logger.exception("worker %s could not hand over a dead worker's runs; retrying", self.executor_id)
            self._stop.wait(self.heartbeat)
