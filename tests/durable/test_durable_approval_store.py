"""The approvals table: one decision per approval point whatever the deciders do; clear errors for bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmteam.durable import DurableError
from llmteam.durable._approval_store import ApprovalRow, ApprovalStore, check_approver, check_reason


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(calls=st.lists(st.tuples(st.sampled_from(["approved", "denied"]), st.sampled_from(["ann", "ben"])),
                      min_size=1, max_size=6))
def test_any_sequence_of_decisions_decides_once(tmp_path_factory: pytest.TempPathFactory,
                                                calls: list[tuple[str, str]]) -> None:
    db = tmp_path_factory.mktemp("decide") / "s.dbos.db"
    store = ApprovalStore(f"sqlite:///{db}")
    try:
        store.request(ApprovalRow("r", "agent:1", "acme", 1, "a", None, {}, None, 1.0, None))
        store.request(ApprovalRow("r", "agent:1", "acme", 9, "x", None, {}, None, 2.0, None))  # a repeat: no-op
        won = [store.decide("r", "agent:1", decision, who, "why") for decision, who in calls]
        assert won == [True] + [False] * (len(calls) - 1)
        [row] = store.rows(run_id="r")
        assert (row.status, row.approver, row.step) == (calls[0][0], calls[0][1], 1)
    finally:
        store.close()


def test_approver_and_reason_are_checked() -> None:
    assert check_approver("alice@example.com") == "alice@example.com"
    for bad in ("", "  ", "x" * 201, "a\x00b", None):
        with pytest.raises(DurableError, match="approver"):
            check_approver(bad)
    assert check_reason("", False) == "" and check_reason("line\nnext", True) == "line\nnext"
    for bad, required in ((" ", True), ("x" * 2001, False), ("\x1b[31m", False), (None, False)):
        with pytest.raises(DurableError, match="reason"):
            check_reason(bad, required)


def test_a_schema_name_that_is_no_identifier_is_refused() -> None:
    with pytest.raises(DurableError, match="system schema"):
        ApprovalStore("postgresql://u@127.0.0.1:1/x", 'dbos"; DROP TABLE x; --')


@pytest.mark.parametrize("processes", [1, 2])
def test_many_first_uses_at_once_create_the_tables_once(tmp_path_factory: pytest.TempPathFactory,
                                                        processes: int) -> None:
    """Runs finishing at once each read the table first: creating it must not fail for all but one of them
    (it did: 'table llmteam_approvals already exists' failed runs). ``processes`` stores = separate creators."""
    from concurrent.futures import ThreadPoolExecutor

    url = f"sqlite:///{tmp_path_factory.mktemp('race')}/s.dbos.db"
    stores = [ApprovalStore(url) for _ in range(processes)]
    try:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda i: stores[i % processes].rows(run_id=f"r{i}"), range(16)))
        assert results == [[]] * 16
    finally:
        for store in stores:
            store.close()
