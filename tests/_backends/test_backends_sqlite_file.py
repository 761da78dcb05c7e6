"""SQLiteFile and begin_immediate: where a file lives, how connections open, and who waits for the write lock."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest

from llmteam.backends._sqlite_file import SQLiteFile, begin_immediate, check_synchronous


def test_memory_is_a_private_file_removed_on_request() -> None:
    f = SQLiteFile(":memory:")
    conn = f.connect(readonly=False, synchronous="FULL")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # a real file: WAL works
    folder = os.path.dirname(conn.execute("PRAGMA database_list").fetchone()[2])
    conn.close()
    assert os.path.isdir(folder)
    f.remove_temporary()
    assert not os.path.exists(folder)


def test_write_connection_commits_at_the_level_asked_and_has_no_busy_handler(tmp_path: Path) -> None:
    f = SQLiteFile(tmp_path / "a.db", busy_timeout_ms=5000)
    conn = f.connect(readonly=False, synchronous="NORMAL")
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (0,)  # begin_immediate decides whether to wait
    reader = f.connect(readonly=True, synchronous="FULL")
    assert reader.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("CREATE TABLE t (x)")
    conn.close()
    reader.close()


def test_a_file_in_a_read_only_folder_is_opened_read_only(tmp_path: Path) -> None:
    path = tmp_path / "ro" / "a.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    path.parent.chmod(0o555)
    try:
        if os.access(path.parent, os.W_OK):  # pragma: no cover - running as root: permissions do not bind
            pytest.skip("root ignores directory permissions")
        f = SQLiteFile(path)
        assert f.read_only
        conn = f.connect(readonly=False, synchronous="FULL")  # even the write connection cannot write
        with pytest.raises(sqlite3.OperationalError):
            conn.execute("INSERT INTO t VALUES (1)")
        conn.close()
    finally:
        path.parent.chmod(0o755)


def test_begin_immediate_gives_up_at_once_on_the_loop_thread_and_waits_in_the_writer(tmp_path: Path) -> None:
    f = SQLiteFile(tmp_path / "a.db")
    conn = f.connect(readonly=False, synchronous="FULL")
    blocker = sqlite3.connect(tmp_path / "a.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    assert begin_immediate(conn, wait_ms=0) is False and not conn.in_transaction
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(conn, wait_ms=200)
    assert time.monotonic() - started >= 0.2  # it waited (an upper bound would be a timing assertion)
    blocker.execute("ROLLBACK")
    assert begin_immediate(conn, wait_ms=0) is True and conn.in_transaction
    conn.execute("ROLLBACK")
    conn.close()
    blocker.close()


@pytest.mark.parametrize("bad", ["OFF", "full", ""])
def test_only_full_and_normal_are_accepted(bad: str) -> None:
    with pytest.raises(ValueError, match=f"synchronous={bad!r} is not supported; use 'FULL' or 'NORMAL'"):
        check_synchronous(bad)


def test_an_empty_path_is_refused() -> None:
    with pytest.raises(ValueError, match="path is empty"):
        SQLiteFile("")


# -- review, 2026-11-29: the attacker's moves on the database path ----------------------------------------------
@pytest.mark.parametrize("dangling", [True, False])
def test_a_database_path_that_is_a_symlink_is_refused_and_nothing_is_created_at_its_target(
    tmp_path: Path, dangling: bool,
) -> None:
    target = tmp_path / "elsewhere" / "created.db"
    target.parent.mkdir()
    if not dangling:
        sqlite3.connect(target).close()
    link = tmp_path / "link.db"
    link.symlink_to(target)
    with pytest.raises(ValueError, match="symbolic link") as err:
        SQLiteFile(link)
    assert str(link) in str(err.value) and str(target) in str(err.value)
    assert target.exists() is not dangling  # a dangling link created nothing


def test_a_relative_path_beginning_with_file_colon_is_that_file_not_a_uri(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    f = SQLiteFile("file:x.db")
    f.connect(readonly=False, synchronous="FULL").close()
    assert (tmp_path / "file:x.db").is_file() and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("where", [".", "/proc/version"])
def test_a_path_sqlite_cannot_open_is_named(where: str) -> None:
    with pytest.raises(sqlite3.OperationalError, match="unable to open") as err:
        SQLiteFile(where).connect(readonly=False, synchronous="FULL")
    assert repr(where) in str(err.value)
