"""SQLiteDatabase: durable transactional writes, inline reads, idempotent versioned schema, multi-process safety."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmteam.backends import sqlite as sqlite_backend
from llmteam.backends.sqlite import SQLiteDatabase

DDL = ["CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"]
# a child row whose parent is missing fails at COMMIT (the check is deferred), not at its INSERT
DEFERRED_FK = [
    "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)",
]


async def test_write_then_read_roundtrip(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    await db.write(lambda c: c.execute("INSERT INTO kv VALUES (?, ?)", ("a", "1")))
    assert await db.read(lambda c: c.execute("SELECT v FROM kv WHERE k = ?", ("a",)).fetchone()) == ("1",)
    assert await db.read_in_thread(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (1,)
    db.close()


async def test_failed_write_rolls_back_everything(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])

    def half(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO kv VALUES ('x', '1')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await db.write(half)
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (0,)
    db.close()


async def test_wal_mode_and_synchronous_full(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    assert db.write_sync(lambda c: c.execute("PRAGMA journal_mode").fetchone()) == ("wal",)
    assert db.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone()) == (2,)
    db.close()


async def test_schema_is_idempotent_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    for _ in range(2):
        db = SQLiteDatabase(path)
        await db.ensure_schema("kv", [DDL])
        db.close()
    db = SQLiteDatabase(path)
    rows = db.read_sync(lambda c: c.execute("SELECT component, version FROM schema_version").fetchall())
    assert rows == [("kv", 1)]
    db.close()


async def test_migrations_apply_only_the_steps_not_yet_recorded(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    step1 = ["CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"]  # not idempotent: re-running it fails
    step2 = ["ALTER TABLE kv ADD COLUMN at INTEGER NOT NULL DEFAULT 0"]
    db = SQLiteDatabase(path)
    await db.ensure_schema("kv", [step1])
    await db.write(lambda c: c.execute("INSERT INTO kv (k, v) VALUES ('a', 'b')"))
    db.close()
    db = SQLiteDatabase(path)
    await db.ensure_schema("kv", [step1, step2])
    assert await db.read(lambda c: c.execute("SELECT k, v, at FROM kv").fetchall()) == [("a", "b", 0)]
    assert await db.read(lambda c: c.execute("SELECT version FROM schema_version").fetchall()) == [(2,)]
    db.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    db = SQLiteDatabase(path)
    await db.ensure_schema("kv", [DDL, [], []])
    db.close()
    db = SQLiteDatabase(path)
    with pytest.raises(RuntimeError, match="newer than this llmteam"):
        await db.ensure_schema("kv", [DDL])
    db.close()


async def test_failed_commit_rolls_back_and_the_next_write_works(tmp_path: Path) -> None:
    # a deferred foreign key fails at COMMIT; the transaction must not stay open for the next write
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("fk", [DEFERRED_FK])
    for write in (db.write, db.write_short):
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            await write(lambda c: c.execute("INSERT INTO child VALUES (42)"))
    await db.write(lambda c: c.execute("INSERT INTO parent VALUES (1)"))  # not "cannot start a transaction"
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM child").fetchone()) == (0,)
    db.close()


async def test_rollback_never_masks_the_original_error(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])

    def ends_transaction_then_fails(c: Any) -> None:
        c.execute("ROLLBACK")  # now a ROLLBACK by the caller would raise "no transaction is active"
        raise ValueError("the original error")

    with pytest.raises(ValueError, match="the original error"):
        await db.write(ends_transaction_then_fails)
    await db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', 'b')"))
    db.close()


async def test_memory_database_inline_read_during_a_write_is_not_table_locked() -> None:
    # a shared-cache :memory: database raised "database table is locked" here (table locks skip the busy handler)
    db = SQLiteDatabase(":memory:")
    await db.ensure_schema("kv", [DDL])
    await db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', 'b')"))
    started, release = threading.Event(), threading.Event()

    def long_write(c: Any) -> None:
        c.execute("INSERT INTO kv VALUES ('c', 'd')")
        started.set()
        release.wait(30)

    writing = asyncio.ensure_future(db.write(long_write))
    assert await asyncio.to_thread(started.wait, 30)
    try:
        assert await db.read(lambda c: c.execute("SELECT v FROM kv WHERE k = 'a'").fetchone()) == ("b",)
    finally:
        release.set()
        await writing
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (2,)
    db.close()


async def test_memory_database_shares_data_between_connections() -> None:
    db = SQLiteDatabase(":memory:")
    await db.ensure_schema("kv", [DDL])
    await db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', 'b')"))
    assert await db.read(lambda c: c.execute("SELECT v FROM kv").fetchone()) == ("b",)
    db.close()


async def test_concurrent_writers_in_one_process(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    await asyncio.gather(
        *(db.write(lambda c, i=i: c.execute("INSERT INTO kv VALUES (?, ?)", (str(i), "v"))) for i in range(200))
    )
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (200,)
    db.close()


def test_two_processes_serialise_read_modify_write(tmp_path: Path) -> None:
    path = tmp_path / "counter.db"
    db = SQLiteDatabase(path)
    db.ensure_schema_sync("kv", [DDL])
    db.write_sync(lambda c: c.execute("INSERT INTO kv VALUES ('n', '0')"))
    db.close()
    script = textwrap.dedent(
        f"""
        from llmteam.backends.sqlite import SQLiteDatabase
        db = SQLiteDatabase({str(path)!r})
        def bump(c):
            n = int(c.execute("SELECT v FROM kv WHERE k='n'").fetchone()[0])
            c.execute("UPDATE kv SET v=? WHERE k='n'", (str(n + 1),))
        for _ in range(100):
            db.write_sync(bump)
        db.close()
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script]) for _ in range(2)]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    db = SQLiteDatabase(path)
    assert db.read_sync(lambda c: c.execute("SELECT v FROM kv WHERE k='n'").fetchone()) == ("200",)
    db.close()


def test_closed_database_refuses_use(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    db.close()
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        db.read_sync(lambda c: None)


@pytest.mark.parametrize("bad", [{"synchronous": "OFF"}, {"path": ""}])
def test_bad_arguments(tmp_path: Path, bad: dict[str, str]) -> None:
    kwargs = {"path": str(tmp_path / "a.db"), **bad}
    with pytest.raises(ValueError):
        SQLiteDatabase(kwargs.pop("path"), **kwargs)  # type: ignore[arg-type]


async def test_cursor_results_are_closed_in_the_writer_thread(tmp_path: Path) -> None:
    # A cursor finalised on the loop thread races the writer thread's reuse of the cached statement
    # ("bad parameter or other API misuse"); a returned cursor must never leave the writer thread.
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    result = await db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', '1')"))
    assert result is None
    sql = "INSERT OR REPLACE INTO kv VALUES (?, ?)"
    rows = [(f"k{i}", "v") for i in range(20)]
    for _ in range(30):
        await asyncio.gather(*(db.write(lambda c: c.executemany(sql, rows)) for _ in range(10)))
    assert await db.read(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (21,)
    db.close()


async def test_write_short_commits_inline_when_idle_and_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "recent commits were quick" is a timing heuristic; pin it so the test asserts behaviour under any load
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 3600.0)
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    seen: list[int] = []

    def put(c: Any) -> None:
        seen.append(threading.get_ident())
        c.execute("INSERT INTO kv VALUES ('a', '1')")

    await db.write_short(put)
    assert seen == [threading.get_ident()]  # no hop to the writer thread
    other = SQLiteDatabase(tmp_path / "a.db")  # a fresh connection sees it: committed on return
    assert other.read_sync(lambda c: c.execute("SELECT v FROM kv").fetchone()) == ("1",)
    with pytest.raises(sqlite3.IntegrityError):
        await db.write_short(lambda c: c.execute("INSERT INTO kv VALUES ('a', '2')"))
    assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (1,)  # rolled back
    other.close()
    db.close()


async def test_write_short_falls_back_to_the_thread_when_another_connection_writes(tmp_path: Path) -> None:
    import threading

    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process-like writer holds the write lock
    where: list[int] = []

    def put(c: Any) -> None:
        where.append(threading.get_ident())
        c.execute("INSERT INTO kv VALUES ('b', '1')")

    task = asyncio.ensure_future(db.write_short(put))
    await asyncio.sleep(0.05)
    assert not task.done()  # it waits in the writer thread, not on the loop
    blocker.execute("ROLLBACK")
    await asyncio.wait_for(task, 5)
    assert where and where[0] != threading.get_ident()
    blocker.close()
    db.close()


async def test_the_writer_thread_waits_for_another_writer_up_to_busy_timeout_then_fails(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db", busy_timeout_ms=300)
    await db.ensure_schema("kv", [DDL])
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # held past the timeout: the write must fail, not hang or slip in
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await asyncio.wait_for(db.write(lambda c: c.execute("INSERT INTO kv VALUES ('a', '1')")), 30)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        await asyncio.wait_for(db.write_short(lambda c: c.execute("INSERT INTO kv VALUES ('a', '1')")), 30)
    blocker.execute("ROLLBACK")
    await db.write_short(lambda c: c.execute("INSERT INTO kv VALUES ('a', '1')"))  # the lock is free again
    assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (1,)
    blocker.close()
    db.close()


async def test_slow_commits_go_through_the_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # "quick" is pinned to under 1 s, so a loaded machine's slow fsync (often > 10 ms) cannot pass for a slow commit
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 1.0)
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    where: list[int] = []

    def slow(c: Any) -> None:
        where.append(threading.get_ident())
        time.sleep(1.05)

    await db.write_short(slow)  # one slow short commit (an fsync spike) keeps inline writes...
    await db.write_short(lambda c: where.append(threading.get_ident()))
    await db.write_short(slow)
    await db.write_short(slow)  # ...two in a row disable them...
    await db.write_short(lambda c: where.append(threading.get_ident()))
    await db.write_short(lambda c: where.append(threading.get_ident()))  # ...until a quick one re-enables them
    here = threading.get_ident()
    assert [w == here for w in where] == [True, True, True, True, False, True]
    db.close()


async def test_long_transactions_do_not_count_as_slow_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a big batch or a migration is slow for its own size, not because the disk is: short writes stay inline
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 1.0)
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    for _ in range(sqlite_backend.SLOW_COMMITS + 1):
        await db.write(lambda c: time.sleep(1.05))
    where: list[int] = []
    await db.write_short(lambda c: where.append(threading.get_ident()))
    assert where == [threading.get_ident()]
    db.close()


def test_many_processes_opening_a_brand_new_file_at_once(tmp_path: Path) -> None:
    # Regression: switching a new file to WAL from several processes at once raised "database is locked"
    # (SQLite skips the busy handler there); the switch is now retried until busy_timeout.
    script = textwrap.dedent(
        """
        import sys
        from llmteam.backends.sqlite import SQLiteDatabase
        db = SQLiteDatabase(sys.argv[1])
        db.ensure_schema_sync("kv", [["CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL)"]])
        db.write_sync(lambda c: c.execute("INSERT INTO kv VALUES (?, 'v')", (sys.argv[2],)))
        db.close()
        """
    )
    for trial in range(4):
        path = tmp_path / f"new{trial}.db"
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(path), str(i)], stderr=subprocess.PIPE)
            for i in range(6)
        ]
        errors = [p.communicate(timeout=60)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0] * 6, errors
        db = SQLiteDatabase(path)
        assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM kv").fetchone()) == (6,)
        db.close()


def _commit_level(db: SQLiteDatabase) -> int:
    """PRAGMA synchronous of the write connection as the next write sees it (1 NORMAL, 2 FULL)."""
    return int(db.write_sync(lambda c: c.execute("PRAGMA synchronous").fetchone())[0])


async def test_a_normal_opener_never_weakens_a_full_opener_of_the_same_file(tmp_path: Path) -> None:
    # an opt-in to synchronous=NORMAL (an event log, say) opened the file first; a store that asked for the
    # default (FULL) then shares that backend: every commit from then on must be FULL, in either order
    from llmteam.backends import open_backend

    first = open_backend(f"sqlite:///{tmp_path}/a.db?synchronous=normal")
    assert isinstance(first, SQLiteDatabase) and _commit_level(first) == 1  # connected at NORMAL
    second = open_backend(f"sqlite:///{tmp_path}/a.db")
    assert second is first and _commit_level(second) == 2
    third = open_backend(f"sqlite:///{tmp_path}/a.db?synchronous=NORMAL")  # never lowered again
    assert third is first and _commit_level(third) == 2
    for _ in range(3):
        await first.release()


async def test_normal_applies_when_every_opener_asks_for_it(tmp_path: Path) -> None:
    from llmteam.backends import open_backend

    a = open_backend(f"sqlite:///{tmp_path}/b.db?synchronous=normal")
    b = open_backend(f"sqlite:///{tmp_path}/b.db?synchronous=normal")
    assert a is b and isinstance(a, SQLiteDatabase) and _commit_level(a) == 1
    await a.release()
    await b.release()


def test_require_synchronous_refuses_an_unknown_level(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "c.db", synchronous="NORMAL")
    with pytest.raises(ValueError, match="'OFF' is not supported; use 'FULL' or 'NORMAL'"):
        db.require_synchronous("OFF")
    db.require_synchronous("NORMAL")
    assert db.synchronous == "NORMAL"
    db.require_synchronous("FULL")
    assert db.synchronous == "FULL" and _commit_level(db) == 2
    db.close()


def _traced(db: SQLiteDatabase) -> list[str]:
    """The statements the write connection runs from now on, and a SQL function ``here()`` naming the thread."""
    seen: list[str] = []
    conn = db.writer()
    conn.set_trace_callback(seen.append)
    conn.create_function("here", 0, threading.get_ident)
    return seen


async def test_execute_short_commits_one_statement_inline_and_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 3600.0)  # pin "recent commits were quick"
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    seen = _traced(db)
    await db.execute_short("INSERT INTO kv VALUES (?, here())", ("a",))
    assert seen == ["INSERT INTO kv VALUES ('a', here())"]  # one call into SQLite: no BEGIN, no COMMIT
    other = SQLiteDatabase(tmp_path / "a.db")  # a fresh connection sees it: committed on return
    assert other.read_sync(lambda c: c.execute("SELECT v FROM kv").fetchone()) == (str(threading.get_ident()),)
    other.close()
    db.close()


async def test_execute_short_that_fails_writes_nothing_and_leaves_no_transaction(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("fk", [DDL + DEFERRED_FK])
    await db.execute_short("INSERT INTO kv VALUES (?, ?)", ("a", "1"))
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        await db.execute_short("INSERT INTO kv VALUES (?, ?)", ("a", "2"))
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):  # a deferred check fails at the commit
        await db.execute_short("INSERT INTO child VALUES (?)", (42,))
    assert not db.writer().in_transaction
    await db.execute_short("INSERT INTO kv VALUES (?, ?)", ("b", "1"))  # not "cannot start a transaction"
    assert db.read_sync(lambda c: c.execute("SELECT k, v FROM kv ORDER BY k").fetchall()) == [("a", "1"), ("b", "1")]
    assert db.read_sync(lambda c: c.execute("SELECT count(*) FROM child").fetchone()) == (0,)
    db.close()


async def test_execute_short_refuses_a_statement_that_opens_a_transaction(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    with pytest.raises(ValueError, match="one write statement, not 'BEGIN'"):
        await db.execute_short("BEGIN", ())
    assert not db.writer().in_transaction  # undone: the next write is not stuck inside it
    await db.write_short(lambda c: c.execute("INSERT INTO kv VALUES ('a', '1')"))
    db.close()


async def test_execute_short_waits_in_the_writer_thread_while_another_connection_writes(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    seen = _traced(db)
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process-like writer holds the write lock
    task = asyncio.ensure_future(db.execute_short("INSERT INTO kv VALUES (?, here())", ("b",)))
    await asyncio.sleep(0.05)
    assert not task.done()  # it waits in the writer thread, never on the loop
    blocker.execute("ROLLBACK")
    await asyncio.wait_for(task, 30)
    (thread,) = db.read_sync(lambda c: c.execute("SELECT v FROM kv WHERE k = 'b'").fetchone())
    assert thread != str(threading.get_ident())
    assert seen[-3:] == ["BEGIN IMMEDIATE", "INSERT INTO kv VALUES ('b', here())", "COMMIT"]  # in a transaction
    blocker.close()
    db.close()


async def test_execute_short_goes_to_the_thread_after_slow_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_backend, "INLINE_MAX_SECONDS", 0.0)  # every commit counts as slow: no timing involved
    db = SQLiteDatabase(tmp_path / "a.db")
    await db.ensure_schema("kv", [DDL])
    _traced(db)
    for k in "abcd":
        await db.execute_short("INSERT INTO kv VALUES (?, here())", (k,))
    threads = db.read_sync(lambda c: c.execute("SELECT v FROM kv ORDER BY k").fetchall())
    here = str(threading.get_ident())
    assert [t == here for (t,) in threads] == [True] * sqlite_backend.SLOW_COMMITS + [False, False]
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        await db.execute_short("INSERT INTO kv VALUES (?, ?)", ("e", "1"))
