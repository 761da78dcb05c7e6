"""The approvals table of durable runs, beside DBOS's own in the system database, and what an approver sees.

One row per approval point of a run (``run_id``, ``key``: ``agent:N`` or the tool call's step name): who asked,
what, until when, and once decided, the decision, by whom and why. A decision is one conditional UPDATE
(``WHERE status = 'pending'``), so exactly one of any number of concurrent deciders wins. ``llmteam_retries``
notes which run a retry forked from which step.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from llmteam.backends import validate_identifier
from llmteam.durable._engine import DurableError
from llmteam.team._approval import MAX_APPROVER, MAX_REASON

_META = sa.MetaData()
_APPROVALS = sa.Table(
    "llmteam_approvals", _META,
    sa.Column("run_id", sa.Text, primary_key=True), sa.Column("key", sa.Text, primary_key=True),
    sa.Column("tenant", sa.Text, nullable=False), sa.Column("step", sa.Integer, nullable=False),
    sa.Column("agent", sa.Text, nullable=False), sa.Column("tool", sa.Text), sa.Column("arguments", sa.Text),
    sa.Column("queue", sa.Text), sa.Column("requested_at", sa.Float, nullable=False), sa.Column("deadline", sa.Float),
    sa.Column("status", sa.Text, nullable=False), sa.Column("approver", sa.Text), sa.Column("reason", sa.Text),
    sa.Column("decided_at", sa.Float),
    sa.Index("llmteam_approvals_status", "status", "tenant"),
)
_RETRIES = sa.Table(
    "llmteam_retries", _META,
    sa.Column("run_id", sa.Text, primary_key=True), sa.Column("parent", sa.Text, nullable=False),
    sa.Column("from_step", sa.Integer, nullable=False),
)



def _utc(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, timezone.utc)


@dataclass(frozen=True)
class PendingApproval:
    """An approval a paused run waits for: the run, its tenant, the agent step, the tool (None for an agent
    approval), the arguments as an approver may see them (sealed values redacted), when it was asked (aware
    UTC) and its deadline (None: none)."""

    run_id: str
    tenant: str
    step: int
    agent: str
    tool: str | None
    arguments: dict[str, Any]
    requested_at: datetime
    deadline: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output (times as ISO 8601 UTC)."""
        data = dict(self.__dict__)
        data["requested_at"] = self.requested_at.isoformat()
        data["deadline"] = None if self.deadline is None else self.deadline.isoformat()
        return data


@dataclass(frozen=True)
class ApprovalRow:
    """One row of ``llmteam_approvals``: an approval point of a run and, once decided, its decision."""

    run_id: str
    key: str
    tenant: str
    step: int
    agent: str
    tool: str | None
    arguments: dict[str, Any]
    queue: str | None
    requested_at: float
    deadline: float | None
    status: str = "pending"
    approver: str | None = None
    reason: str | None = None
    decided_at: float | None = None

    def pending(self) -> PendingApproval:
        """What an approver is shown."""
        return PendingApproval(self.run_id, self.tenant, self.step, self.agent, self.tool, self.arguments,
                               _utc(self.requested_at) or datetime.now(timezone.utc), _utc(self.deadline))


def _row(found: Any) -> ApprovalRow:
    data = dict(found._mapping)
    data["arguments"] = json.loads(data["arguments"] or "{}")
    return ApprovalRow(**data)


class ApprovalStore:
    """The approvals (and retries) tables in the DBOS system database, through SQLAlchemy Core."""

    def __init__(self, system_db: str, schema: str = "dbos") -> None:
        try:
            schema = validate_identifier(schema, "system schema")  # it is named in CREATE SCHEMA below
        except ValueError as exc:
            raise DurableError(str(exc)) from None
        url = sa.make_url(system_db)
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")  # the driver DBOS itself uses
        self.sqlite = url.drivername.startswith("sqlite")
        options: dict[str, Any] = {"connect_args": {"timeout": 30}} if self.sqlite else {"pool_size": 2}
        if not self.sqlite:
            options["execution_options"] = {"schema_translate_map": {None: schema}}
        self.schema = schema
        self.engine = sa.create_engine(url, **options)
        self._ready = False
        self._lock = threading.Lock()

    def _begin(self) -> Any:
        if not self._ready:
            with self._lock:  # one creator per process; another process creating them too is tolerated below
                for attempt in (1, 2):
                    try:
                        with self.engine.begin() as conn:
                            if not self.sqlite:
                                conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))  # validated
                            _META.create_all(conn, checkfirst=True)
                        break
                    except (sa.exc.OperationalError, sa.exc.ProgrammingError, sa.exc.IntegrityError):
                        if attempt == 2:  # not a lost race with another creator: a real failure
                            raise
                self._ready = True
        return self.engine.begin()

    def request(self, row: ApprovalRow) -> ApprovalRow:
        """Insert the pending approval ``row`` unless its (run, key) exists; the stored row either way."""
        with self._begin() as conn:
            found = self._get(conn, row.run_id, row.key)
            if found is not None:
                return found
            values = {**row.__dict__, "arguments": json.dumps(row.arguments, sort_keys=True)}
            try:
                with conn.begin_nested():
                    conn.execute(_APPROVALS.insert().values(**values))
            except sa.exc.IntegrityError:  # another attempt inserted it first
                pass
            found = self._get(conn, row.run_id, row.key)
            assert found is not None
            return found

    @staticmethod
    def _get(conn: Any, run_id: str, key: str) -> ApprovalRow | None:
        found = conn.execute(sa.select(_APPROVALS).where(_APPROVALS.c.run_id == run_id,
                                                         _APPROVALS.c.key == key)).first()
        return None if found is None else _row(found)

    def get(self, run_id: str, key: str) -> ApprovalRow | None:
        """The approval ``key`` of ``run_id``, if it was ever asked."""
        with self._begin() as conn:
            return self._get(conn, run_id, key)

    def rows(self, *, run_id: str | None = None, tenant: str | None = None, status: str | None = None,
             run_ids: list[str] | None = None, limit: int = 1000) -> list[ApprovalRow]:
        """Approvals matching the filters, oldest request first (at most ``limit``)."""
        query = sa.select(_APPROVALS).order_by(_APPROVALS.c.requested_at, _APPROVALS.c.run_id).limit(limit)
        for column, value in (("run_id", run_id), ("tenant", tenant), ("status", status)):
            if value is not None:
                query = query.where(_APPROVALS.c[column] == value)
        if run_ids is not None:
            query = query.where(_APPROVALS.c.run_id.in_(run_ids))
        with self._begin() as conn:
            return [_row(r) for r in conn.execute(query)]

    def decide(self, run_id: str, key: str, status: str, approver: str, reason: str) -> bool:
        """Record the decision if the approval is still pending; True for the one call that decided it."""
        with self._begin() as conn:
            done = conn.execute(_APPROVALS.update().where(
                _APPROVALS.c.run_id == run_id, _APPROVALS.c.key == key, _APPROVALS.c.status == "pending",
            ).values(status=status, approver=approver, reason=reason, decided_at=time.time()))
            return bool(done.rowcount == 1)

    def record_retry(self, run_id: str, parent: str, from_step: int) -> None:
        """Note that run ``run_id`` retries ``parent`` from agent step ``from_step`` (before it is forked)."""
        with self._begin() as conn:
            conn.execute(_RETRIES.insert().values(run_id=run_id, parent=parent, from_step=from_step))

    def retry_of(self, run_id: str) -> tuple[str, int] | None:
        """(original run, first re-executed step) when ``run_id`` is a retry."""
        with self._begin() as conn:
            found = conn.execute(sa.select(_RETRIES.c.parent, _RETRIES.c.from_step)
                                 .where(_RETRIES.c.run_id == run_id)).first()
        return None if found is None else (str(found[0]), int(found[1]))

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()


def check_approver(approver: Any) -> str:
    """``approver`` if it is 1-200 printable characters; else a clear error."""
    if not isinstance(approver, str) or not approver.strip() or len(approver) > MAX_APPROVER \
            or not approver.isprintable():
        raise DurableError(f"approver {approver!r:.80} must be 1-{MAX_APPROVER} printable characters (who decides)")
    return approver


def check_reason(reason: Any, required: bool) -> str:
    """``reason`` if it is text of at most MAX_REASON characters (non-blank when ``required``)."""
    if not isinstance(reason, str) or len(reason) > MAX_REASON or (required and not reason.strip()) or any(
            not (c.isprintable() or c in "\n\t") for c in reason):
        need = "a non-blank reason" if required else "a reason"
        raise DurableError(f"{need} of at most {MAX_REASON} printable characters is needed, got {reason!r:.80}")
    return reason
