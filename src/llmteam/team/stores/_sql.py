"""SQL shared by the SQLite and PostgreSQL run stores: the schema, the row codecs, the usage rows."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from llmteam.team._records import RunRecord, TenantUsage
from llmteam.team._usage import Usage

SELECT_RUN = (
    "SELECT run_id, tenant_id, team, status, started_at, finished_at, input_json, output, error, steps, "
    "prompt_tokens, completion_tokens, requests, cost FROM team_runs "
)
GET = {
    "qmark": SELECT_RUN + "WHERE run_id = ? AND tenant_id = ?",
    "dollar": SELECT_RUN + "WHERE run_id = $1 AND tenant_id = $2",
}
LIST = {
    "qmark": SELECT_RUN + "WHERE tenant_id = ? ORDER BY started_at DESC LIMIT ? OFFSET ?",
    "dollar": SELECT_RUN + "WHERE tenant_id = $1 ORDER BY started_at DESC LIMIT $2 OFFSET $3",
}
PAUSE = {
    "qmark": "UPDATE team_runs SET status = 'paused' WHERE run_id = ? AND tenant_id = ? AND status = 'running'",
    "dollar": "UPDATE team_runs SET status = 'paused' WHERE run_id = $1 AND tenant_id = $2 AND status = 'running'",
}
UNPAUSE = {
    "qmark": "UPDATE team_runs SET status = 'running', lease_until = ? WHERE run_id = ? AND tenant_id = ?",
    "dollar": "UPDATE team_runs SET status = 'running', lease_until = $1 WHERE run_id = $2 AND tenant_id = $3",
}


def ddl(real: str) -> list[str]:
    return [
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


def to_record(row: Sequence[Any], by_agent: dict[str, Usage] | None = None) -> RunRecord:
    return RunRecord(
        run_id=row[0], tenant_id=row[1], team=row[2], status=row[3], started_at=float(row[4]),
        finished_at=None if row[5] is None else float(row[5]), input=json.loads(row[6]), output=row[7],
        error=row[8], steps=int(row[9]), usage=Usage(int(row[10]), int(row[11]), int(row[12]), float(row[13])),
        usage_by_agent=by_agent or {},
    )


def usage_rows(record: RunRecord) -> list[tuple[Any, ...]]:
    return [
        (record.run_id, record.tenant_id, agent, record.models.get(agent, ""), u.prompt_tokens, u.completion_tokens,
         u.requests, u.cost)
        for agent, u in record.usage_by_agent.items()
    ]


def finish_args(record: RunRecord) -> tuple[Any, ...]:
    u = record.usage
    return (record.status, record.finished_at or time.time(), record.output, record.error, record.steps,
            u.prompt_tokens, u.completion_tokens, u.requests, u.cost, record.run_id, record.tenant_id)


def tenant_usage(tenant_id: str, runs: int, total: Sequence[Any], rows: Sequence[Sequence[Any]]) -> TenantUsage:
    out = TenantUsage(tenant_id, runs, Usage(int(total[0] or 0), int(total[1] or 0), int(total[2] or 0),
                                             float(total[3] or 0.0)))
    for agent, model, p, c, r, cost in rows:
        u = Usage(int(p), int(c), int(r), float(cost))
        out.by_agent.setdefault(agent, Usage()).add(u)
        out.by_model.setdefault(model, Usage()).add(u)
    return out
