"""SealedData: owner-only reads and no leaks via repr, str, format, copy or pickle (contract §5.3)."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime

import pytest

from llmteam.context import SealedData, SealedDataAccessError

SECRET = "s3cr3t-VALUE-7f1c"


def test_owner_reads_others_denied() -> None:
    sealed = SealedData(SECRET, owner_id="alice")
    assert sealed.get("alice") == SECRET
    assert sealed.is_owner("alice") and not sealed.is_owner("bob") and not sealed.is_owner("")
    with pytest.raises(SealedDataAccessError) as info:
        sealed.get("bob")
    assert isinstance(info.value, PermissionError)
    assert (info.value.owner_id, info.value.requester_id) == ("alice", "bob")
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)


def test_first_parameter_is_named_data_and_defaults() -> None:
    sealed = SealedData(_data=[1, 2])
    assert sealed.owner_id == "" and sealed.encryption_key_id == ""
    assert isinstance(sealed.created_at, datetime)
    assert sealed._data == [1, 2]


def test_empty_owner_is_readable_by_no_one() -> None:
    with pytest.raises(SealedDataAccessError):
        SealedData(SECRET).get("")


def test_repr_str_format_redacted() -> None:
    sealed = SealedData(SECRET, owner_id="alice")
    assert repr(sealed) == "SealedData(owner_id='alice', [REDACTED])"
    assert str(sealed) == "[SEALED]" and f"{sealed}" == "[SEALED]" and f"{sealed:>10}".strip() == "[SEALED]"
    assert SECRET not in repr([sealed]) and SECRET not in str({"k": sealed})


def test_value_not_an_attribute() -> None:
    sealed = SealedData(SECRET, owner_id="alice")
    assert not hasattr(sealed, "__dict__")
    assert all(SECRET != getattr(sealed, n, None) for n in ("owner_id", "encryption_key_id", "created_at"))
    with pytest.raises(AttributeError):
        sealed.owner_id = "mallory"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        sealed._data = "x"  # type: ignore[misc]


def test_copy_and_deepcopy_return_same_object() -> None:
    sealed = SealedData(SECRET, owner_id="alice")
    assert copy.copy(sealed) is sealed and copy.deepcopy(sealed) is sealed
    assert copy.deepcopy({"x": [sealed]})["x"][0] is sealed


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_raises_type_error_without_value(protocol: int) -> None:
    sealed = SealedData(SECRET, owner_id="alice")
    with pytest.raises(TypeError) as info:
        pickle.dumps(sealed, protocol=protocol)
    assert SECRET not in str(info.value)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [sealed]}, protocol=protocol)


def test_bad_arguments_named() -> None:
    with pytest.raises(TypeError, match="owner_id must be a str.*42"):
        SealedData("v", owner_id=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="created_at must be a datetime"):
        SealedData("v", created_at="yesterday")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="requester_id must be a str.*None"):
        SealedData("v", owner_id="a").get(None)  # type: ignore[arg-type]
