"""Group commit: concurrent durable log() calls share transactions; chains stay gap-free; failures lose nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditStorageError, AuditTrail
from llmteam.audit._chain import verify_chain_range
from llmteam.audit.stores import MemoryAuditStore, SQLiteAuditStore
from llmteam.tenancy import TenantContext

EV = AuditEventType.DATA_CREATED


def trail(store: Any, tenant: str = "acme") -> AuditTrail:
    return AuditTrail(store, tenant_id=tenant, use_context_tenant=False)


async def assert_chain(store: Any, tenant: str, acked: list[AuditRecord]) -> None:
    """Every acknowledged record is stored exactly once and the chain 1..n verifies with no gap."""
    last = await store.get_last_sequence(tenant)
    res = await verify_chain_range(store, tenant, 1, last)
    assert res.valid, (res.missing[:5], res.first_broken, res.reason)
    stored = await store.get_by_sequence_range(tenant, 1, last)
    ids = [r.record_id for r in stored]
    assert len(ids) == len(set(ids)) == last
    mine = [r for r in acked if r.tenant_id == tenant]
    by_seq = {r.sequence_number: r for r in stored}
    for r in mine:
        assert by_seq[r.sequence_number].record_id == r.record_id
        assert by_seq[r.sequence_number].checksum == r.checksum


async def test_concurrent_logs_share_transactions(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    assert t._group is not None
    acked = await asyncio.gather(*(t.log(EV, action=str(i)) for i in range(300)))
    assert sorted(r.sequence_number for r in acked) == list(range(1, 301))
    assert t._group.groups < 100  # 300 calls, far fewer transactions
    await assert_chain(store, "acme", list(acked))
    await store.close()


async def test_tasks_logging_in_lockstep_share_one_transaction_per_round(tmp_path: Path) -> None:
    # 64 tasks x 100 log() calls each: every round of 64 calls is one transaction, whatever the load
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    await t.log(EV)  # the schema is in place and this task is the sequential caller: the tasks below are not
    commits: list[str] = []
    store.db.writer().set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    assert t._group is not None
    before = t._group.groups

    async def task(k: int) -> list[AuditRecord]:
        return [await t.log(EV, action=f"{k}-{i}") for i in range(100)]

    acked = [rec for recs in await asyncio.gather(*(task(k) for k in range(64))) for rec in recs]
    assert t._group.groups - before == 100 and len(commits) == 100
    await assert_chain(store, "acme", acked)
    assert await store.get_last_sequence("acme") == 1 + 64 * 100
    await store.close()


async def test_many_tenants_in_one_group(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = AuditTrail(store)

    async def work(tenant: str, i: int) -> AuditRecord:
        with TenantContext(tenant):
            return await t.log(EV, action=str(i))

    acked = await asyncio.gather(*(work(f"t{i % 7}", i) for i in range(350)))
    assert t._group is not None and t._group.groups < 100
    for k in range(7):
        await assert_chain(store, f"t{k}", list(acked))
        assert await store.get_last_sequence(f"t{k}") == 50
    await store.close()


async def test_sequential_caller_still_durable_per_call(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    for i in range(5):
        r = await t.log(EV)
        other = SQLiteAuditStore(tmp_path / "a.db")  # a fresh connection sees it: committed on return
        assert await other.get_last_sequence("acme") == r.sequence_number == i + 1
        await other.close()
    await store.close()


async def test_group_failed_by_another_writer_is_retried_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    store_a, store_b = SQLiteAuditStore(db), SQLiteAuditStore(db)
    a, b = AuditTrail(store_a), AuditTrail(store_b)

    async def log(t: AuditTrail, tenant: str, i: int) -> AuditRecord:
        with TenantContext(tenant):
            return await t.log(EV, action=str(i))

    first = await asyncio.gather(*(log(a, f"t{i % 3}", i) for i in range(3)))  # a caches every head
    other = await asyncio.gather(*(log(b, f"t{i % 3}", i) for i in range(12)))  # a's heads are now stale
    acked = await asyncio.gather(*(log(a, f"t{i % 3}", i) for i in range(90)))
    everything = [*first, *other, *acked]
    for k in range(3):
        await assert_chain(store_a, f"t{k}", everything)
        assert await store_a.get_last_sequence(f"t{k}") == 35
    await store_a.close()
    await store_b.close()


class FailingTenantStore(MemoryAuditStore):
    """A group-commit store that refuses every record of tenant ``bad`` (a real failure, not a race)."""

    group_commit = True

    def _refuse(self, records: list[AuditRecord]) -> None:
        if any(r.tenant_id == "bad" for r in records):
            raise AuditStorageError("disk refused tenant bad")

    async def append(self, record: AuditRecord) -> None:
        self._refuse([record])
        await super().append(record)

    async def append_many(self, records: list[AuditRecord]) -> None:
        self._refuse(records)
        await super().append_many(records)


async def test_real_failure_is_reported_only_to_its_tenant() -> None:
    store = FailingTenantStore()
    t = AuditTrail(store)

    async def log(tenant: str, i: int) -> AuditRecord:
        with TenantContext(tenant):
            return await t.log(EV, action=str(i))

    results = await asyncio.gather(*(log("bad" if i % 4 == 0 else "good", i) for i in range(40)),
                                   return_exceptions=True)
    for i, res in enumerate(results):
        if i % 4 == 0:
            assert isinstance(res, AuditStorageError)
        else:
            assert isinstance(res, AuditRecord)
    assert await store.count("bad") == 0
    good = [r for r in results if isinstance(r, AuditRecord)]
    await assert_chain(store, "good", good)
    assert await store.get_last_sequence("good") == 30


async def test_single_tenant_failure_fails_the_whole_group_and_writes_nothing() -> None:
    store = FailingTenantStore()
    t = trail(store, "bad")
    results = await asyncio.gather(*(t.log(EV) for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, AuditStorageError) for r in results)
    assert await store.count() == 0


async def test_cancelled_caller_does_not_break_the_chain(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    tasks = [asyncio.ensure_future(t.log(EV, action=str(i))) for i in range(50)]
    await asyncio.sleep(0)
    tasks[10].cancel()
    tasks[40].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    acked = [r for r in done if isinstance(r, AuditRecord)]
    assert len(acked) >= 48
    await assert_chain(store, "acme", acked)
    assert await store.get_last_sequence("acme") >= len(acked)
    await store.close()


def test_memory_store_keeps_the_direct_path() -> None:
    assert trail(MemoryAuditStore())._group is None


@pytest.mark.parametrize("flag", [False, "yes"])
def test_group_commit_needs_a_true_flag(flag: Any) -> None:
    class Store(MemoryAuditStore):
        group_commit = flag

    assert trail(Store())._group is None


def test_trail_is_usable_from_successive_event_loops(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "loops.db")
    trail = AuditTrail(store, tenant_id="t", use_context_tenant=False)
    for _ in range(2):
        asyncio.run(trail.log(AuditEventType.CONFIG_CHANGED))
    assert asyncio.run(trail.verify_chain()) == (True, [])


def test_committer_busy_on_another_loop_refuses_instead_of_hanging() -> None:
    import threading

    from llmteam.audit._group import GroupCommitter

    release = threading.Event()
    started = threading.Event()

    async def slow_commit(entries: list[Any]) -> list[Any]:
        started.set()
        while not release.is_set():
            await asyncio.sleep(0.01)
        return [AuditRecord.__new__(AuditRecord) for _ in entries]

    committer = GroupCommitter(slow_commit)
    other = threading.Thread(target=lambda: asyncio.run(committer.submit("t", {})))
    other.start()
    assert started.wait(5)
    try:
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(asyncio.wait_for(committer.submit("t", {}), 5))
    finally:
        release.set()
        other.join(5)
    assert not other.is_alive()


async def test_lone_caller_commits_in_its_own_task_and_queued_callers_follow(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    assert t._group is not None
    for _ in range(5):
        await t.log(EV)
    assert t._group.groups == 5 and t._group._task is None  # one transaction each, no committer task left
    acked = list(await asyncio.gather(*(t.log(EV, action=str(i)) for i in range(40))))
    assert t._group.groups < 5 + 40  # callers that came together still share transactions
    await assert_chain(store, "acme", acked)
    assert await store.get_last_sequence("acme") == 45
    await store.close()


async def test_lone_caller_cancelled_before_commit_is_not_written(tmp_path: Path) -> None:
    store = SQLiteAuditStore(tmp_path / "a.db")
    t = trail(store)
    task = asyncio.ensure_future(t.log(EV))
    await asyncio.sleep(0)  # it is now yielding once before committing alone
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    r = await t.log(EV)
    assert r.sequence_number == 1 and await store.count() == 1
    await store.close()


class FlakyGroupStore(MemoryAuditStore):
    """A group-committing memory store whose appends yield to the loop (so groups form) and fail when told to."""

    group_commit = True

    def __init__(self, failures: list[bool]) -> None:
        super().__init__()
        self.failures = list(failures)  # one entry per append call: True = refuse it (nothing of it is stored)

    async def _maybe_fail(self) -> None:
        await asyncio.sleep(0)
        if self.failures and self.failures.pop(0):
            raise AuditStorageError("injected failure: the disk refused the transaction")

    async def append(self, record: AuditRecord) -> None:
        await self._maybe_fail()
        await super().append(record)

    async def append_many(self, records: list[AuditRecord]) -> None:
        await self._maybe_fail()
        await super().append_many(records)


@settings(max_examples=60, deadline=None)
@given(
    callers=st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3"]), st.integers(0, 3)), min_size=1, max_size=25),
    failures=st.lists(st.booleans(), max_size=12),
)
def test_group_commit_acknowledges_exactly_what_it_stored(callers: list[tuple[str, int]], failures: list[bool]) -> None:
    """Whatever callers arrive when and whichever transactions fail: an acknowledged record is stored exactly once
    (same id and checksum), a caller that got an error has nothing stored, and every chain verifies gap-free."""

    async def scenario() -> None:
        store = FlakyGroupStore(failures)
        t = AuditTrail(store)

        async def log(i: int, tenant: str, yields: int) -> AuditRecord:
            for _ in range(yields):
                await asyncio.sleep(0)
            with TenantContext(tenant):
                return await t.log(EV, actor_id=f"caller{i}")

        results = await asyncio.gather(*(log(i, ten, y) for i, (ten, y) in enumerate(callers)),
                                       return_exceptions=True)
        acked = [r for r in results if isinstance(r, AuditRecord)]
        assert all(isinstance(r, (AuditRecord, AuditStorageError)) for r in results), results
        stored = [r for ten in ("t1", "t2", "t3") for r in await store.get_by_sequence_range(ten, 1, 10**6)]
        actors = [r.actor_id for r in stored]
        assert sorted(actors) == sorted(r.actor_id for r in acked)  # exactly the acknowledged ones, once each
        for ten in ("t1", "t2", "t3"):
            await assert_chain(store, ten, acked)

    asyncio.run(scenario())


async def test_a_lone_caller_commits_through_commit_one_and_a_crowd_through_commit() -> None:
    from llmteam.audit._group import GroupCommitter

    calls: list[tuple[str, int]] = []

    def record(tenant: str, n: int) -> AuditRecord:
        return AuditRecord(f"r{n}", n, datetime(2024, 1, 1, tzinfo=timezone.utc), EV, tenant_id=tenant)

    async def commit(entries: list[Any]) -> list[Any]:
        calls.append(("commit", len(entries)))
        return [record(t, i + 1) for i, (t, _, _) in enumerate(entries)]

    async def commit_one(tenant: str, fields: dict[str, Any]) -> AuditRecord:
        calls.append(("commit_one", 1))
        if fields.get("fail"):
            raise AuditStorageError("refused")
        return record(tenant, 1)

    committer = GroupCommitter(commit, commit_one)
    assert (await committer.submit("t", {})).tenant_id == "t"
    with pytest.raises(AuditStorageError, match="refused"):  # its error reaches the caller as it was raised
        await committer.submit("t", {"fail": True})
    await asyncio.gather(*(committer.submit("t", {}) for _ in range(5)))
    assert calls == [("commit_one", 1), ("commit_one", 1), ("commit", 5)]
    assert committer.groups == 3

    default = GroupCommitter(commit)  # without commit_one a lone caller goes through commit
    calls.clear()
    assert (await default.submit("u", {})).tenant_id == "u"
    assert calls == [("commit", 1)]


async def test_a_lone_callers_error_from_commit_reaches_it_without_commit_one() -> None:
    from llmteam.audit._group import GroupCommitter

    async def commit(entries: list[Any]) -> list[Any]:
        return [AuditStorageError("disk full") for _ in entries]

    with pytest.raises(AuditStorageError, match="disk full"):
        await GroupCommitter(commit).submit("t", {})


async def test_without_yield_first_a_lone_caller_commits_at_once_and_the_crowd_shares_the_next_commit() -> None:
    """A store whose commit awaits a server (yield_first=False): the first caller commits before any other ready
    task runs; callers ready in the same turn queue while that commit is in flight and share one commit after it."""
    from llmteam.audit._group import GroupCommitter

    calls: list[tuple[str, int]] = []
    ran: list[str] = []

    def record(tenant: str, n: int) -> AuditRecord:
        return AuditRecord(f"r{n}", n, datetime(2024, 1, 1, tzinfo=timezone.utc), EV, tenant_id=tenant)

    async def commit(entries: list[Any]) -> list[Any]:
        calls.append(("commit", len(entries)))
        await asyncio.sleep(0.01)  # the server round trip
        return [record(t, i + 1) for i, (t, _, _) in enumerate(entries)]

    async def commit_one(tenant: str, fields: dict[str, Any]) -> AuditRecord:
        calls.append(("commit_one", len(ran)))  # how many other tasks ran before the commit started
        await asyncio.sleep(0.01)
        return record(tenant, 1)

    async def other() -> None:
        ran.append("other")

    for yield_first, ran_before in ((True, 1), (False, 0)):
        committer = GroupCommitter(commit, commit_one, yield_first=yield_first)
        calls.clear()
        ran.clear()
        bystander = asyncio.ensure_future(other())  # ready: runs at the first yield
        await committer.submit("t", {})
        await bystander
        assert calls == [("commit_one", ran_before)]

    committer = GroupCommitter(commit, commit_one, yield_first=False)
    calls.clear()
    ran.clear()
    await asyncio.gather(*(committer.submit("t", {}) for _ in range(16)))
    assert calls == [("commit_one", 0), ("commit", 15)] and committer.groups == 2


def test_only_stores_whose_commit_awaits_a_server_skip_the_yield() -> None:
    from llmteam.audit.stores import PostgresAuditStore

    assert PostgresAuditStore.yield_before_lone_commit is False
    assert SQLiteAuditStore.yield_before_lone_commit is True  # an inline commit blocks the loop: nobody could queue


def _rec(tenant: str, n: int) -> AuditRecord:
    return AuditRecord(f"r{n}", n, datetime(2024, 1, 1, tzinfo=timezone.utc), EV, tenant_id=tenant)


class Recorder:
    """``commit`` / ``commit_one`` for a bare GroupCommitter that note each transaction and which tasks ran first."""

    def __init__(self, commit_one_awaits: bool = False) -> None:
        self.calls: list[tuple[str, int]] = []
        self.ran: list[str] = []  # bystander tasks that ran, in order
        self.commit_one_awaits = commit_one_awaits  # like a commit that went to the writer thread

    async def commit(self, entries: list[Any]) -> list[Any]:
        self.calls.append(("commit", len(entries)))
        return [_rec(t, i + 1) for i, (t, _, _) in enumerate(entries)]

    async def commit_one(self, tenant: str, fields: dict[str, Any]) -> AuditRecord:
        self.calls.append(("commit_one", len(self.ran)))  # how many bystanders had run when the commit started
        if self.commit_one_awaits:
            await asyncio.sleep(0.01)
        return _rec(tenant, 1)

    async def bystander(self, name: str = "bystander") -> None:
        self.ran.append(name)


async def test_a_sequential_caller_commits_without_yielding_but_lets_ready_tasks_run_every_run() -> None:
    """The task whose last commit was lone commits its next records at once (no event-loop turn per call), yet
    yields again after SEQUENTIAL_RUN such commits, so a task that became ready meanwhile is not kept waiting."""
    from llmteam.audit._group import SEQUENTIAL_RUN, GroupCommitter

    rec = Recorder()
    committer = GroupCommitter(rec.commit, rec.commit_one)
    await committer.submit("t", {})  # the first call yields once and is alone: it becomes the sequential caller
    bystander = asyncio.ensure_future(rec.bystander())  # ready from now on
    for _ in range(SEQUENTIAL_RUN):
        await committer.submit("t", {})
    assert rec.ran == [] and not bystander.done()  # none of those commits gave the loop a turn
    await committer.submit("t", {})  # the run is over: this one yields first
    assert rec.ran == ["bystander"] and bystander.done()
    assert rec.calls == [("commit_one", 0)] * (SEQUENTIAL_RUN + 1) + [("commit_one", 1)]
    assert committer.groups == SEQUENTIAL_RUN + 2


async def test_a_caller_that_joins_a_sequential_caller_shares_its_commit_and_ends_its_run() -> None:
    from llmteam.audit._group import SEQUENTIAL_RUN, GroupCommitter

    rec = Recorder()
    committer = GroupCommitter(rec.commit, rec.commit_one)
    await committer.submit("t", {})
    joiner = asyncio.ensure_future(committer.submit("t", {"who": "joiner"}))
    for _ in range(SEQUENTIAL_RUN):
        await committer.submit("t", {})
    assert not joiner.done()
    await committer.submit("t", {})  # yields: the joiner queues behind it and both go in one transaction
    assert (await joiner).tenant_id == "t"
    assert rec.calls[-1] == ("commit", 2)
    bystander = asyncio.ensure_future(rec.bystander())
    await committer.submit("t", {})  # after a group the caller is no longer sequential: it yields again
    assert bystander.done() and rec.calls[-1] == ("commit_one", 1)


async def test_callers_queued_during_a_sequential_callers_commit_end_its_run() -> None:
    """A lone commit that awaits (it went to the writer thread) lets other callers queue; they commit after it as a
    group, and the sequential caller's next call yields again so that it can join such callers."""
    from llmteam.audit._group import GroupCommitter

    rec = Recorder(commit_one_awaits=True)
    committer = GroupCommitter(rec.commit, rec.commit_one)
    await committer.submit("t", {})  # this task is the sequential caller from now on
    others = [asyncio.ensure_future(committer.submit("t", {})) for _ in range(3)]  # ready, not yet run
    await committer.submit("t", {})  # commits at once; the others run and queue while its commit is in flight
    await asyncio.gather(*others)
    assert rec.calls == [("commit_one", 0), ("commit_one", 0), ("commit", 3)]
    bystander = asyncio.ensure_future(rec.bystander())
    await committer.submit("t", {})
    assert rec.calls[-1] == ("commit_one", 1) and bystander.done()  # it yielded before committing


async def test_a_sequential_callers_run_survives_a_lone_commit_in_flight_with_nobody_queued() -> None:
    from llmteam.audit._group import GroupCommitter

    rec = Recorder(commit_one_awaits=True)
    committer = GroupCommitter(rec.commit, rec.commit_one)
    for _ in range(3):
        await committer.submit("t", {})
    bystander = asyncio.ensure_future(rec.bystander())
    await committer.submit("t", {})  # its commit awaits, so the bystander runs, but only during the commit
    assert rec.calls[-1] == ("commit_one", 0) and bystander.done()


async def test_the_committer_keeps_no_finished_caller_task_alive() -> None:
    import gc
    import weakref

    from llmteam.audit._group import GroupCommitter

    rec = Recorder()
    committer = GroupCommitter(rec.commit, rec.commit_one)
    task = asyncio.ensure_future(committer.submit("t", {}))
    await task  # alone: it was the sequential caller
    gone = weakref.ref(task)
    del task
    await asyncio.sleep(0)  # the loop lets go of the handle that woke this test up
    gc.collect()
    assert gone() is None
    assert (await committer.submit("t", {})).tenant_id == "t"  # a new caller is not mistaken for it: it yields
    assert rec.calls == [("commit_one", 0), ("commit_one", 0)]
