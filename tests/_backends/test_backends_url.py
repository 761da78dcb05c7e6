"""Store URL parsing: the one grammar every store opener uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.backends.url import StoreURLError, parse_store_url


def test_memory_url() -> None:
    assert parse_store_url("memory://").scheme == "memory"


def test_sqlite_relative_and_absolute_paths() -> None:
    assert parse_store_url("sqlite:///./.llmteam/x.db").path == ".llmteam/x.db"
    assert parse_store_url("sqlite:////tmp/abs.db").path == "/tmp/abs.db"
    assert parse_store_url("sqlite:///:memory:").path == ":memory:"


def test_postgres_alias_is_canonicalised() -> None:
    parsed = parse_store_url("postgres://u:p@127.0.0.1:5432/db")
    assert parsed.scheme == "postgresql"
    assert parsed.dsn.startswith("postgresql://")


def test_redis_url() -> None:
    assert parse_store_url("redis://127.0.0.1:6379/0").scheme == "redis"


@pytest.mark.parametrize("bad", ["", "   ", "mysql://x", "sqlite://relative.db", "sqlite:///", "nourl"])
def test_bad_urls_name_the_value(bad: str) -> None:
    with pytest.raises(StoreURLError) as info:
        parse_store_url(bad)
    assert repr(bad.strip()) in str(info.value) or repr(bad) in str(info.value)


@pytest.mark.parametrize("query, level", [("", ""), ("?synchronous=normal", "NORMAL"), ("?synchronous=FULL", "FULL")])
def test_sqlite_synchronous_option(query: str, level: str) -> None:
    assert parse_store_url(f"sqlite:///a.db{query}").synchronous == level


@pytest.mark.parametrize("query, named", [("?synchronous=off", "'off'"), ("?synchronous=", "''"),
                                          ("?sync=normal", "sync=")])
def test_a_bad_sqlite_option_is_named_with_what_to_use(query: str, named: str) -> None:
    with pytest.raises(StoreURLError) as info:
        parse_store_url(f"sqlite:///a.db{query}")
    assert named in str(info.value) and "synchronous=FULL or synchronous=NORMAL" in str(info.value)


def test_scheme_not_allowed_here() -> None:
    with pytest.raises(StoreURLError, match="not supported here"):
        parse_store_url("redis://localhost", allowed=("memory", "sqlite"))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_store_url_error(text: str) -> None:
    try:
        parsed = parse_store_url(text)
    except StoreURLError:
        return
    assert parsed.scheme in ("memory", "sqlite", "postgresql", "redis")


@pytest.mark.parametrize("bad, named", [("redis://127.0.0.1:6379/abc", "'abc' is not a number"),
                                        ("redis://127.0.0.1:6379/1/2", "'1/2' is not a number"),
                                        ("redis://:pw@127.0.0.1:notaport/1", "port is not a number")])
def test_a_redis_url_with_a_bad_database_or_port_is_refused(bad: str, named: str) -> None:
    with pytest.raises(StoreURLError, match=named) as info:  # redis-py used database 0 for /abc, silently
        parse_store_url(bad)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize("good", ["redis://h", "redis://h/", "redis://h:6379/15", "rediss://h/0/"])
def test_redis_urls_with_or_without_a_database_number(good: str) -> None:
    assert parse_store_url(good).scheme == "redis"
