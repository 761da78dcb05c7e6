"""SQL shared by the SQLite and PostgreSQL run stores: the numbered migrations, the statements, the row codecs.

Statements are built once per placeholder style (``?`` for SQLite, ``$n`` for PostgreSQL) from the same text, so
the two stores cannot drift apart. A migration step is never edited once released: a new column is a new step.
"""

# ruff: noqa: S608 - statements are built from constant column names only; every value is a bound parameter
from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from llmteam.team._records import RunRecord, TenantUsage
from llmteam.team._usage import Usage

COMPONENT = "team_runs"
# the columns of a Usage, in the order of its fields (both tables carry them)
USAGE = ("prompt_tokens", "completion_tokens", "requests", "cost", "tool_calls", "tool_ms", "unpriced",
         "tool_denied", "tool_failed")
USAGE_COLUMNS = ", ".join(USAGE)
USAGE_SUMS = ", ".join(f"SUM({c})" for c in USAGE)
UNFINISHED = "('running', 'paused')"  # the statuses finish() ends (a paused run waits for a person)
RUN_COLUMNS = "run_id, tenant_id, team, status, started_at, finished_at, input_json, output, error, steps, "


def migrations(real: str) -> list[list[str]]:
    """The run store's schema steps (step 1 first); ``real`` is the dialect's floating-point type."""
    v1 = [
        "CREATE TABLE IF NOT EXISTS team_runs (run_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, team TEXT NOT NULL, "
        f"status TEXT NOT NULL, started_at {real} NOT NULL, lease_until {real} NOT NULL, finished_at {real}, "
        "input_json TEXT NOT NULL, output TEXT, error TEXT, steps INTEGER NOT NULL DEFAULT 0, "
        "prompt_tokens BIGINT NOT NULL DEFAULT 0, completion_tokens BIGINT NOT NULL DEFAULT 0, "
        f"requests BIGINT NOT NULL DEFAULT 0, cost {real} NOT NULL DEFAULT 0)",
        "CREATE INDEX IF NOT EXISTS team_runs_tenant_status ON team_runs (tenant_id, status)",
        "CREATE INDEX IF NOT EXISTS team_runs_tenant_started ON team_runs (tenant_id, started_at)",
        "CREATE TABLE IF NOT EXISTS team_run_usage (run_id TEXT NOT NULL, tenant_id TEXT NOT NULL, "
        "agent TEXT NOT NULL, model TEXT NOT NULL, prompt_tokens BIGINT NOT NULL, completion_tokens BIGINT NOT NULL, "
        f"requests BIGINT NOT NULL, cost {real} NOT NULL, PRIMARY KEY (run_id, agent))",
        "CREATE INDEX IF NOT EXISTS team_run_usage_tenant ON team_run_usage (tenant_id)",
        "CREATE TABLE IF NOT EXISTS team_daily_runs (tenant_id TEXT NOT NULL, day TEXT NOT NULL, "
        "runs INTEGER NOT NULL, PRIMARY KEY (tenant_id, day))",
    ]
    # v2: tool usage (calls that ran, refused, failed, their time) and unpriced requests, per run and per agent
    added = [("tool_calls", "BIGINT"), ("tool_ms", real), ("unpriced", "BIGINT"), ("tool_denied", "BIGINT"),
             ("tool_failed", "BIGINT")]
    v2 = [f"ALTER TABLE {table} ADD COLUMN {column} {kind} NOT NULL DEFAULT 0"
          for table in ("team_runs", "team_run_usage") for column, kind in added]
    return [v1, v2]


class Statements:
    """Every statement of the run store in one placeholder style."""

    def __init__(self, placeholder: Callable[[int], str]) -> None:
        p = placeholder

        def marks(first: int, count: int) -> str:
            return ", ".join(p(i) for i in range(first, first + count))

        select = f"SELECT {RUN_COLUMNS}{USAGE_COLUMNS} FROM team_runs "
        self.get = select + f"WHERE run_id = {p(1)} AND tenant_id = {p(2)}"
        self.list = (select + f"WHERE tenant_id = {p(1)} ORDER BY started_at DESC, run_id DESC "
                     f"LIMIT {p(2)} OFFSET {p(3)}")
        self.agents = (f"SELECT agent, {USAGE_COLUMNS} FROM team_run_usage "
                       f"WHERE run_id = {p(1)} AND tenant_id = {p(2)} ORDER BY agent")
        sets = ", ".join(f"{c} = {p(i)}" for i, c in enumerate(("status", "finished_at", "output", "error", "steps",
                                                                 *USAGE), start=1))
        n = 6 + len(USAGE)
        self.finish = (f"UPDATE team_runs SET {sets} WHERE run_id = {p(n)} AND tenant_id = {p(n + 1)} "
                       f"AND status IN {UNFINISHED}")
        self.insert_agent = (f"INSERT INTO team_run_usage (run_id, tenant_id, agent, model, {USAGE_COLUMNS}) "
                             f"VALUES ({marks(1, 4 + len(USAGE))})")
        self.running = (f"SELECT COUNT(*) FROM team_runs WHERE tenant_id = {p(1)} AND status = 'running' "
                        f"AND lease_until > {p(2)}")
        self.today = f"SELECT runs FROM team_daily_runs WHERE tenant_id = {p(1)} AND day = {p(2)}"
        self.taken = f"SELECT 1 FROM team_runs WHERE run_id = {p(1)}"
        self.status = f"SELECT status FROM team_runs WHERE run_id = {p(1)} AND tenant_id = {p(2)}"
        self.pause = (f"UPDATE team_runs SET status = 'paused' WHERE run_id = {p(1)} AND tenant_id = {p(2)} "
                      "AND status = 'running'")
        self.unpause = (f"UPDATE team_runs SET status = 'running', lease_until = {p(1)} WHERE run_id = {p(2)} "
                        f"AND tenant_id = {p(3)}")
        self.admit = ("INSERT INTO team_runs (run_id, tenant_id, team, status, started_at, lease_until, input_json) "
                      f"VALUES ({p(1)}, {p(2)}, {p(3)}, 'running', {p(4)}, {p(5)}, {p(6)})")
        self.count_day = (f"INSERT INTO team_daily_runs (tenant_id, day, runs) VALUES ({p(1)}, {p(2)}, 1) "
                          "ON CONFLICT (tenant_id, day) DO UPDATE SET runs = team_daily_runs.runs + 1")
        self.total = (f"SELECT {USAGE_SUMS}, COUNT(*) FROM team_runs WHERE tenant_id = {p(1)} "
                      "AND status != 'running'")
        self.by_agent = (f"SELECT agent, model, {USAGE_SUMS} FROM team_run_usage WHERE tenant_id = {p(1)} "
                         "GROUP BY agent, model ORDER BY agent, model")


QMARK = Statements(lambda i: "?")
DOLLAR = Statements(lambda i: f"${i}")


def usage_of(values: Sequence[Any]) -> Usage:
    """A :class:`Usage` from its columns (``USAGE`` order); NULL sums (no rows) are zero."""
    v = [0 if x is None else x for x in values]
    return Usage(int(v[0]), int(v[1]), int(v[2]), float(v[3]), int(v[4]), float(v[5]), int(v[6]), int(v[7]),
                 int(v[8]))


def usage_values(u: Usage) -> tuple[Any, ...]:
    """The columns of ``u`` in ``USAGE`` order."""
    return (u.prompt_tokens, u.completion_tokens, u.requests, u.cost, u.tool_calls, u.tool_ms, u.unpriced,
            u.tool_denied, u.tool_failed)


def to_record(row: Sequence[Any], agents: Sequence[Sequence[Any]] = ()) -> RunRecord:
    """A run record from a ``get``/``list`` row and, optionally, its ``agents`` rows."""
    return RunRecord(
        run_id=row[0], tenant_id=row[1], team=row[2], status=row[3], started_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]), input=json.loads(row[6]), output=row[7],
        error=row[8], steps=int(row[9]), usage=usage_of(row[10:]),
        usage_by_agent={str(a[0]): usage_of(a[1:]) for a in agents},
    )


def admit_args(record: RunRecord, now: float, lease: float) -> tuple[Any, ...]:
    return (record.run_id, record.tenant_id, record.team, now, now + lease,
            json.dumps(record.input, sort_keys=True, default=str))


def usage_rows(record: RunRecord) -> list[tuple[Any, ...]]:
    return [(record.run_id, record.tenant_id, agent, record.models.get(agent, ""), *usage_values(u))
            for agent, u in record.usage_by_agent.items()]


def finish_args(record: RunRecord) -> tuple[Any, ...]:
    return (record.status, record.finished_at or time.time(), record.output, record.error, record.steps,
            *usage_values(record.usage), record.run_id, record.tenant_id)


def tenant_usage(tenant_id: str, total: Sequence[Any], rows: Sequence[Sequence[Any]]) -> TenantUsage:
    """A tenant's usage from the ``total`` row (sums, then the run count) and the ``by_agent`` rows."""
    out = TenantUsage(tenant_id, int(total[len(USAGE)]), usage_of(total[: len(USAGE)]))
    for row in rows:
        agent, model, u = str(row[0]), str(row[1]), usage_of(row[2:])
        out.by_agent.setdefault(agent, Usage()).add(u)
        out.by_model.setdefault(model, Usage()).add(u)
    return out
