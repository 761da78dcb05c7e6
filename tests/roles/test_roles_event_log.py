"""The durable log's row format: what ``to_row`` refuses, refused alike by every backend before any write."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.roles import EventLogError, ProcessEvent, open_event_log
from llmteam.roles._event_log import from_row, to_row

T0 = datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
NAN, INF = float("nan"), float("inf")


def good(i: int = 0) -> ProcessEvent:
    return ProcessEvent(f"g{i}", T0, "a", "r", "c", "complete", 5, 0.5, {"score": 0.25, "n": [1, 2]})


BAD = [
    ("cost", dict(cost=NAN)),
    ("cost", dict(cost=INF)),
    ("cost", dict(cost=-INF)),
    ("attribute 'score'", dict(attributes={"score": NAN})),
    ("attribute 'n'", dict(attributes={"ok": 1, "n": [1, INF]})),
    ("attribute 'deep'", dict(attributes={"deep": {"x": {"y": -INF}}})),
    ("duration_ms", dict(duration_ms=INF)),
    ("timestamp", dict(timestamp=datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))))),
]


@pytest.mark.parametrize("field, bad", BAD, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD)])
async def test_a_value_json_or_sql_cannot_hold_is_refused_before_any_write(field: str, bad: dict[str, Any]) -> None:
    # the review's move: cost=NaN or a NaN attribute got a raw IntegrityError from SQLite, InvalidTextRepresentation
    # from PostgreSQL, and the memory store kept it; every backend runs to_row on the whole batch before writing, so
    # each now gets one EventLogError naming the event and the field (tests/contracts checks the three backends)
    event = ProcessEvent(**{**dict(event_id="bad-1", timestamp=T0, activity="a", resource="r", case_id="c"), **bad})
    with pytest.raises(EventLogError, match=f"'bad-1'.*{field}"):
        to_row(event, "t")
    log: Any = open_event_log("memory://")
    with pytest.raises(EventLogError, match=f"'bad-1'.*{field}"):
        await log.append_many([good(1), event], tenant_id="t")
    assert await log.count() == 0 and await log.append_many([good(2)], tenant_id="t") == 1
    assert [e async for e in log.iterate()] == [good(2)]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(map(_finite, value))
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    return True


@settings(max_examples=200, deadline=None)
@given(st.floats() | st.integers(-(2**70), 2**70), st.dictionaries(st.text(max_size=4), json_values, max_size=4))
def test_to_row_stores_finite_values_and_refuses_the_others_with_an_event_log_error(
        cost: float, attributes: dict[str, Any]) -> None:
    event = ProcessEvent("e", T0, "a", "r", "c", cost=cost, attributes=attributes)
    storable = math.isfinite(cost) and _finite(attributes)
    try:
        row = to_row(event, "t")
    except EventLogError:
        assert not storable
        return
    assert storable
    back = from_row(row)
    assert back.cost == float(cost) and back.attributes == json.loads(json.dumps(attributes))
