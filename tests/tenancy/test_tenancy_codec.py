from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import TenantConfig, TenantError
from llmteam.tenancy.stores._codec import (
    check_keys,
    check_page,
    decode_config,
    encode_config,
    encode_items,
    encode_value,
    prefix_upper_bound,
    render_sql,
)

_chars = st.characters(blacklist_categories=("Cs",))


@settings(max_examples=300, deadline=None)
@given(st.text(_chars, max_size=4), st.text(_chars, max_size=6))
def test_prefix_range_is_exactly_the_prefix(prefix: str, key: str) -> None:
    upper = prefix_upper_bound(prefix)
    in_range = key >= prefix and (upper is None or key < upper)
    assert in_range == key.startswith(prefix)


def test_prefix_upper_bound_edges() -> None:
    assert prefix_upper_bound("") is None
    assert prefix_upper_bound("ab") == "ac"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("\ud7ff") == "\ue000"


def test_encode_items_checks_everything_first() -> None:
    with pytest.raises(TypeError, match="'b'.*set"):
        encode_items({"a": 1, "b": {1}})
    with pytest.raises(TypeError, match="mapping"):
        encode_items([("a", 1)])  # type: ignore[arg-type]
    assert encode_items({"a": [1, None]}) == [("a", "[1,null]")]


def test_check_keys() -> None:
    assert check_keys(["a", "b", "a"]) == ["a", "b"]
    with pytest.raises(TypeError, match="string"):
        check_keys("abc")


def test_check_page() -> None:
    check_page(0, 0)
    for limit, offset in ((-1, 0), (1, -1), (True, 0), (1.5, 0)):
        with pytest.raises(ValueError):
            check_page(limit, offset)  # type: ignore[arg-type]


def test_config_documents() -> None:
    config = TenantConfig("a", "A", metadata={"n": 1})
    assert decode_config(encode_config(config)) == config
    with pytest.raises(TenantError, match="corrupt"):
        decode_config('{"tenant_id": "a", "name": "A", "tier": "gold"}')
    with pytest.raises(TypeError, match="TenantConfig"):
        encode_config({"tenant_id": "a"})  # type: ignore[arg-type]


def test_render_sql_validates_the_table_name() -> None:
    assert render_sql({"q": "SELECT * FROM {t}"}, "kv") == {"q": "SELECT * FROM kv"}
    with pytest.raises(ValueError, match="kv;"):
        render_sql({"q": "SELECT * FROM {t}"}, "kv; DROP TABLE x")


def test_a_value_nested_too_deeply_is_refused_by_key_not_a_recursion_error() -> None:
    # review, 2026-11-29: a value nested 100,000 deep raised RecursionError, naming nothing
    value: object = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(ValueError, match="value for key 'deep' is nested too deeply"):
        encode_value("deep", value)
