"""The shared argument checks: errors name the offending value."""

from __future__ import annotations

import math

import pytest

from llmteam.context._levels import SensitivityLevel
from llmteam.context._validate import require_enum, require_id, require_number, require_optional_str, to_set


def test_require_enum() -> None:
    assert require_enum(SensitivityLevel.PUBLIC, SensitivityLevel, "s") is SensitivityLevel.PUBLIC
    with pytest.raises(TypeError, match=r"s must be a SensitivityLevel.*got 'public'"):
        require_enum("public", SensitivityLevel, "s")


def test_require_id_and_optional() -> None:
    assert require_id("a", "x") == "a"
    with pytest.raises(ValueError, match="non-empty"):
        require_id("", "x")
    with pytest.raises(TypeError, match="got int 5"):
        require_id(5, "x")
    assert require_optional_str(None, "x") is None
    with pytest.raises(TypeError):
        require_optional_str(b"a", "x")


def test_require_number() -> None:
    assert require_number(1, "c") == 1.0
    for bad in (True, "0.5", None, [1]):
        with pytest.raises(TypeError, match="c must be a number"):
            require_number(bad, "c")
    with pytest.raises(ValueError, match="NaN"):
        require_number(math.nan, "c")


def test_to_set() -> None:
    s = {"a"}
    assert to_set(s, "x") is s
    assert to_set(["a", "b"], "x") == {"a", "b"}
    assert to_set(frozenset({"a"}), "x") == {"a"}
    for bad in ("abc", b"x", 3, None):
        with pytest.raises(TypeError, match="x must be a set"):
            to_set(bad, "x")


def test_plain_str() -> None:
    from llmteam.context._validate import plain_str

    class Sub(str):
        pass

    assert type(plain_str(Sub("a"), "x")) is str and plain_str("b", "x") == "b"
    with pytest.raises(TypeError, match="x must be a str"):
        plain_str(1, "x")
