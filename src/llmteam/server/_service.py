"""What the API and the dashboard both do for a caller's tenant: a run's steps and audit records, audit, mining.

Every function takes the tenant id from the authenticated key and nothing else, so the two front ends cannot
disagree about what a tenant may see.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from llmteam.audit import AuditError, AuditQuery
from llmteam.roles import ProcessMapRenderError
from llmteam.server._problems import Problem
from llmteam.server._state import ServerState


async def run_audit_records(state: ServerState, tenant_id: str, run_id: str, limit: int = 500) -> list[dict[str, Any]]:
    """The audit records of one run, in sequence order."""
    records = await state.audit_store.query(AuditQuery(tenant_id=tenant_id, run_id=run_id, limit=limit,
                                                       order_by="sequence_number", order_desc=False))
    return [r.to_dict() for r in records]


async def run_steps(state: ServerState, tenant_id: str, run_id: str, limit: int = 1000) -> list[dict[str, Any]]:
    """The process events of one run (agent steps, tool calls), oldest first."""
    out: list[dict[str, Any]] = []
    async for event in state.event_log.iterate(tenant_id=tenant_id, case_id=run_id):
        out.append({"activity": event.activity, "resource": event.resource, "lifecycle": event.lifecycle,
                    "timestamp": event.timestamp.isoformat(), "duration_ms": event.duration_ms, "cost": event.cost,
                    "attributes": event.attributes})
        if len(out) >= limit:
            break
    return out


async def verify(state: ServerState, tenant_id: str) -> dict[str, Any]:
    """Re-check the tenant's whole chain and its latest signed checkpoint."""
    checkpoint = await state.ledger.latest_checkpoint(tenant_id)
    result = await state.ledger.verify(tenant_id, checkpoint)
    return {"tenant_id": tenant_id, "ok": result.ok, "records_checked": result.records_checked,
            "tree_size": result.tree_size, "root_hash": result.root_hash, "missing": result.missing[:100],
            "first_broken": result.first_broken, "problems": result.problems, "checkpoint": checkpoint}


async def checkpoint(state: ServerState, tenant_id: str, *, sign: bool) -> dict[str, Any]:
    """The latest signed checkpoint (``sign``: sign the current head first)."""
    if sign:
        return await state.ledger.checkpoint(tenant_id)
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None:
        raise Problem(404, "no signed checkpoint yet for this tenant; POST /v1/audit/checkpoints signs one")
    return cp


async def inclusion_proof(state: ServerState, tenant_id: str, sequence: int) -> dict[str, Any]:
    """An inclusion proof of record ``sequence`` against the latest checkpoint (signed now if none covers it)."""
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None or int(cp["tree_size"]) < sequence:
        cp = None
    try:
        return await state.ledger.prove_inclusion(tenant_id, sequence, cp)
    except AuditError as exc:
        raise Problem(404, f"no audit record {sequence} for this key's tenant ({str(exc)[:200]})") from None


async def consistency_proof(state: ServerState, tenant_id: str, first: int) -> dict[str, Any]:
    """A bundle proving the log's head extends a checkpoint of size ``first``: ``{"checkpoint", "consistency"}``
    for ``verify_extends``; the checkpoint is the latest signed one when it is the head, else the head signed now."""
    size = int(await state.audit_store.get_last_sequence(tenant_id))
    if first > size:
        raise Problem(404, f"the tenant's log has {size} records; a checkpoint of size {first} cannot be proven "
                      "against it (was it another tenant's, or another deployment's?)")
    cp = await state.ledger.latest_checkpoint(tenant_id)
    if cp is None or int(cp["tree_size"]) != size:
        cp = await state.ledger.checkpoint(tenant_id)
    proof = await state.ledger.prove_consistency(tenant_id, first, int(cp["tree_size"]))
    return {"checkpoint": cp, "consistency": proof}


def _jsonable(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def plain(value: Any) -> Any:
    """Dataclasses with timedeltas -> JSON-ready data (durations in seconds)."""
    return json.loads(json.dumps(asdict(value) if hasattr(value, "__dataclass_fields__") else value,
                                 default=_jsonable))


async def mining_summary(state: ServerState, tenant_id: str, team: str | None, top: int = 5) -> dict[str, Any]:
    """Metrics, bottlenecks (service and waiting) and variants of the tenant's (team's) runs."""
    engine = await state.mining_engine(tenant_id, team)
    return {
        "team": team, "events": engine.get_event_count(), "cases": engine.get_case_count(),
        "metrics": plain(engine.calculate_metrics()),
        "bottlenecks": {by: [plain(b) for b in engine.find_bottlenecks(by, top)] for by in ("service", "waiting")},
        "variants": [{"activities": list(v.activities), "count": v.count, "share": v.share}
                     for v in engine.get_variants()[:top]],
    }


async def process_map_svg(state: ServerState, tenant_id: str, team: str | None) -> bytes:
    """The process map as SVG (Graphviz); 404 when there is nothing to draw, 503 without Graphviz."""
    engine = await state.mining_engine(tenant_id, team)
    if engine.get_event_count() == 0:
        raise Problem(404, "no process events yet for this tenant" + (f" and team {team!r}" if team else ""))
    try:
        rendered = await asyncio.to_thread(engine.process_map, "svg")
    except ProcessMapRenderError as exc:
        raise Problem(503, str(exc)) from None
    return rendered if isinstance(rendered, bytes) else rendered.encode("utf-8")
