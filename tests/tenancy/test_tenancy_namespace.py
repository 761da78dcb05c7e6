from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.tenancy import TenantContextError
from llmteam.tenancy._namespace import NamespaceCache, split_key, tenant_namespace, validate_separator

_text = st.text(st.sampled_from(list("ab:/x")), max_size=6)


def test_separator_validation() -> None:
    assert validate_separator("::") == "::"
    for bad in ("", None, 1):
        with pytest.raises(ValueError):
            validate_separator(bad)


def test_ids_containing_the_separator_are_refused() -> None:
    assert tenant_namespace("acme", ":") == "acme:"
    with pytest.raises(TenantContextError, match="a:b"):
        tenant_namespace("a:b", ":")
    with pytest.raises(TenantContextError, match="'a:'"):
        tenant_namespace("a:", "::")  # "a:" + "::" would start with tenant "a"'s namespace
    with pytest.raises(TenantContextError, match="empty"):
        tenant_namespace("", ":")


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([":", "::", "ab", "aba"]), _text, _text)
def test_accepted_namespaces_are_prefix_free(sep: str, t1: str, t2: str) -> None:
    try:
        n1, n2 = tenant_namespace(t1, sep), tenant_namespace(t2, sep)
    except TenantContextError:
        return
    if t1 != t2:
        assert not n1.startswith(n2) and not n2.startswith(n1)
    assert not n1.startswith(sep)  # the anonymous namespace (the bare separator) is disjoint


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([":", "::", "ab"]), _text, _text)
def test_split_key_recovers_the_owner(sep: str, tenant: str, key: str) -> None:
    try:
        namespace = tenant_namespace(tenant, sep)
    except TenantContextError:
        return
    assert split_key(namespace + key, sep) == (tenant, key)
    assert split_key(sep + key, sep) == ("", key)


def test_cache_is_bounded_and_validates() -> None:
    cache = NamespaceCache(":")
    for i in range(5000):
        assert cache.get(f"t{i}") == f"t{i}:"
    assert len(cache.known) <= 4096
    with pytest.raises(TenantContextError):
        cache.get("x:y")
    assert split_key("nosep", ":") is None
