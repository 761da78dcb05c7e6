"""Exception hierarchy and attributes (contract §5.3)."""

from __future__ import annotations

import pytest

from llmteam.context import ContextAccessError, SealedDataAccessError


def test_context_access_error_attributes() -> None:
    err = ContextAccessError("nope", viewer_id="v", field_name="f")
    assert (str(err), err.viewer_id, err.field_name) == ("nope", "v", "f")
    assert ContextAccessError("m").viewer_id == ""


def test_sealed_error_is_both_and_names_parties() -> None:
    err = SealedDataAccessError("owner", "intruder", "ssn")
    assert isinstance(err, ContextAccessError) and isinstance(err, PermissionError)
    assert (err.owner_id, err.requester_id, err.field_name, err.viewer_id) == ("owner", "intruder", "ssn", "intruder")
    assert "owner" in str(err) and "intruder" in str(err) and "ssn" in str(err)
    with pytest.raises(PermissionError):
        raise SealedDataAccessError("o", "r")
