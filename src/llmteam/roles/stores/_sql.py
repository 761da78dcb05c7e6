"""SQL shared by the SQLite and PostgreSQL event logs: columns, the keyset WHERE clause, page decoding.

Table names are interpolated only after ``validate_identifier``; every value is a bound parameter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmteam.roles._event_log import Cursor, EventFilter, Row

COLUMNS = (
    "tenant_id, case_id, event_id, ts_us, ts_text, activity, resource, lifecycle, duration_ms, cost, attributes"
)


def where_clause(where: EventFilter, after: Cursor | None, placeholder: Any) -> tuple[str, list[Any]]:
    """A WHERE clause (bound parameters only) for the filters and the keyset cursor."""
    clauses: list[str] = []
    params: list[Any] = []
    if where.tenant_id is not None:
        params.append(where.tenant_id)
        clauses.append(f"tenant_id = {placeholder(len(params))}")
    if where.case_id is not None:
        params.append(where.case_id)
        clauses.append(f"case_id = {placeholder(len(params))}")
    if after is not None:
        marks = []
        for value in after:
            params.append(value)
            marks.append(placeholder(len(params)))
        clauses.append(f"(tenant_id, case_id, ts_us, seq) > ({', '.join(marks)})")
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def to_page(rows: Iterable[Any]) -> list[tuple[Cursor, Row]]:
    out = []
    for r in rows:
        row: Row = tuple(r[1:])
        out.append(((row[0], row[1], row[3], r[0]), row))
    return out
