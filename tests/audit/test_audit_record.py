"""AuditRecord: checksum over every field (fast path == contract formula), HMAC key, dict round trip."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditSeverity, generate_audit_id, set_checksum_key

FIELDS = [f for f in AuditRecord.__dataclass_fields__ if f != "checksum"]


def reference(r: AuditRecord, key: bytes | None = None) -> str:
    d = r.to_dict()
    del d["checksum"]
    data = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()


def make(**kw: object) -> AuditRecord:
    base: dict[str, object] = dict(record_id="r1", sequence_number=1,
                                   timestamp=datetime(2024, 1, 2, tzinfo=timezone.utc),
                                   event_type=AuditEventType.DATA_CREATED)
    base.update(kw)
    return AuditRecord(**base)  # type: ignore[arg-type]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3), max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(), seq=st.integers(min_value=0, max_value=2**40), success=st.booleans(),
    meta=st.dictionaries(st.text(max_size=5), json_values, max_size=3), tags=st.lists(st.text(max_size=5), max_size=3),
    old=st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=2),
    ev=st.sampled_from(list(AuditEventType)), sev=st.sampled_from(list(AuditSeverity)),
    offset=st.integers(min_value=-720, max_value=720),
)
def test_fast_checksum_equals_contract_formula(text, seq, success, meta, tags, old, ev, sev, offset) -> None:
    ts = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(minutes=offset)))
    r = make(record_id=text, sequence_number=seq, success=success, metadata=meta, tags=tags, old_value=old,
             event_type=ev, severity=sev, action=text, actor_user_agent=text + "\u2028\x00é", timestamp=ts)
    assert r.checksum == reference(r)
    assert r.verify_integrity()


def test_generic_fallback_for_odd_types() -> None:
    r = make(actor_id=42, success=1, timestamp=datetime(2024, 1, 1))  # type: ignore[arg-type]
    assert r.checksum == reference(r)


@pytest.mark.parametrize("name", FIELDS)
def test_every_field_is_covered(name: str) -> None:
    r = make(metadata={"a": 1}, tags=["x"], old_value={"o": 1}, new_value={"n": 1})
    value = getattr(r, name)
    changed = {
        AuditEventType: lambda v: AuditEventType.DATA_DELETED, AuditSeverity: lambda v: AuditSeverity.CRITICAL,
        bool: lambda v: not v, int: lambda v: v + 1, datetime: lambda v: v + timedelta(seconds=1),
        dict: lambda v: {"z": 2}, list: lambda v: ["y"], str: lambda v: v + "x", type(None): lambda v: {"z": 1},
    }[type(value)](value)
    setattr(r, name, changed)
    assert not r.verify_integrity()


def test_hmac_key_changes_checksum(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = make()
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "secret")
    keyed = make()
    assert keyed.checksum == reference(keyed, b"secret") != plain.checksum
    assert not plain.verify_integrity()
    set_checksum_key(b"other")
    try:
        assert make().checksum == reference(make(), b"other")
    finally:
        set_checksum_key(None)
    with pytest.raises(ValueError):
        set_checksum_key(b"")


def test_round_trip_and_copy() -> None:
    r = make(metadata={"a": [1, 2]}, tags=["t"], new_value={"k": {"x": 1}})
    back = AuditRecord.from_dict(r.to_dict())
    assert back == r and back.verify_integrity()
    tampered = AuditRecord.from_dict({**r.to_dict(), "checksum": "0" * 64})
    assert tampered.checksum == "0" * 64 and not tampered.verify_integrity()
    c = r.copy()
    c.metadata["a"].append(3)
    assert r.metadata == {"a": [1, 2]}
    minimal = AuditRecord.from_dict({"record_id": "x", "sequence_number": 1, "timestamp": "2024-01-01T00:00:00+00:00",
                                     "event_type": "data.created"})
    assert minimal.severity is AuditSeverity.INFO and minimal.metadata == {} and minimal.verify_integrity()
    r.action = "mutable"  # attribute assignment must not raise
    assert len(generate_audit_id()) == 36


def test_copy_carries_the_checksum_over_even_when_empty() -> None:
    r = AuditRecord(generate_audit_id(), 1, datetime.now(timezone.utc), AuditEventType.DATA_CREATED, tags=["a"],
                    metadata={"k": [1]})
    c = r.copy()
    assert c == r and c.tags is not r.tags and c.metadata["k"] is not r.metadata["k"]
    r.checksum = ""
    assert r.copy().checksum == ""


def test_a_key_passed_in_seals_like_the_configured_one(monkeypatch: pytest.MonkeyPatch) -> None:
    r = make(actor_id="a", metadata={"k": [1]})
    assert r.compute_checksum(None) == reference(r) == r.checksum
    assert r.compute_checksum(b"given") == reference(r, b"given")
    monkeypatch.setenv("LLMTEAM_AUDIT_HMAC_KEY", "env")
    assert r.compute_checksum() == reference(r, b"env") and r.compute_checksum(None) == reference(r)


def test_to_dict_keeps_the_declared_field_order() -> None:
    # exports (CSV columns, JSON lines) follow to_dict's key order
    assert list(make().to_dict()) == list(AuditRecord.__dataclass_fields__)
