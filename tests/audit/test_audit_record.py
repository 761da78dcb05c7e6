"""AuditRecord: checksum over every field (fast path == contract formula), HMAC key, dict round trip."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone
from enum import Enum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmteam.audit import AuditEventType, AuditRecord, AuditSeverity, generate_audit_id, set_checksum_key
from llmteam.audit._checksum import hasher
from llmteam.audit._record import SEALED_FIELDS, _refill_ids, generate_audit_ids, seal, utc_iso
from llmteam.audit.verifier import RECORD_FIELDS, canonical_json, canonical_record_json

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


# -- the canonical text: template path vs the reference encoder, and unambiguity -------------------------------
class Shouty(str):
    """A str subclass whose str() differs from its text (the JSON encoder writes the text)."""

    def __str__(self) -> str:
        return "SHOUT"


class Colour(str, Enum):
    RED = "red"  # str(Colour.RED) == "Colour.RED", its JSON text is "red"


# text the template writes as it is (printable, no '"' or '\\'), and text it must leave to the reference encoder
plain_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"),
                          blacklist_characters='"\\', whitelist_characters=" "), max_size=8),
    st.sampled_from(["", "plain", "é中🙂", "%s", "%(action)s", "{}", "null"]),
)
needs_escape = st.sampled_from(
    ['say "hi"', '"', "back\\slash", "\\", "line\nbreak", "tab\t", "\x00", "\x7f", "\u2028", "\xa0", "\u200b",
     "\ud800", '","actor_id":"mallory'],
)
odd_scalar = (st.builds(Shouty, st.text(max_size=4)) | st.just(Colour.RED) | st.integers() | st.none()
              | st.floats(allow_nan=False) | st.booleans())
STR_FIELDS = [n for n in FIELDS if AuditRecord.__dataclass_fields__[n].type == "str"]


@st.composite
def any_records(draw: st.DrawFn) -> AuditRecord:
    """Records with every field drawn of its declared type, the strings template-ready, except (often) one field:
    a string needing a JSON escape, any text, or a value of another type (a str subclass, a number, None...)."""
    fields: dict[str, object] = {name: draw(plain_text) for name in STR_FIELDS}
    fields.update(
        sequence_number=draw(st.integers(min_value=-(2**70), max_value=2**70)),
        success=draw(st.booleans()),
        timestamp=draw(st.datetimes(timezones=st.none() | st.timezones())),
        event_type=draw(st.sampled_from(list(AuditEventType))),
        severity=draw(st.sampled_from(list(AuditSeverity))),
        metadata=draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3)),
        tags=draw(st.lists(st.text(max_size=5), max_size=3)),
        old_value=draw(st.none() | st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
        new_value=draw(st.none() | st.just({}) | st.dictionaries(st.text(max_size=4), json_values, max_size=2)),
    )
    spoiled = draw(st.none() | st.sampled_from(STR_FIELDS) | st.sampled_from(sorted(fields)))
    if spoiled is not None:
        fields[spoiled] = draw(
            needs_escape | st.tuples(plain_text, needs_escape).map("".join) | st.text(max_size=6) | odd_scalar
            | st.floats(0, 9)
        )
    return AuditRecord(checksum="not computed", **fields)  # type: ignore[arg-type]


def reference_text(r: AuditRecord) -> str:
    d = r.to_dict()
    del d["checksum"]
    return json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@settings(max_examples=300, deadline=None)
@given(any_records())
def test_template_text_equals_the_reference_encoder(r: AuditRecord) -> None:
    # the record's text (the verifier's template where it applies) against the contract's json.dumps form
    assert r.canonical_json() == canonical_record_json(r._body()) == reference_text(r)


def test_the_template_serves_the_usual_record_and_refuses_the_rest() -> None:
    usual = make(actor_id="alice", action="read", metadata={"k": ["v", 1]}, tags=["t"], old_value={"a": None},
                 previous_checksum="a" * 64, timestamp=datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=timezone.utc))
    assert usual.canonical_json() == reference_text(usual)
    for plain in ({"actor_id": "中文 ok"}, {"event_type": "data.created"}, {"timestamp": "2024-01-01"},
                  {"timestamp": datetime(2024, 1, 1)}, {"actor_id": Shouty("x")}, {"actor_type": Colour.RED}):
        r = make(**plain)
        assert r.canonical_json() == reference_text(r), plain
    for odd in ({"action": 'a "quote"'}, {"action": "back\\slash"}, {"error_message": "two\nlines"},
                {"actor_id": Shouty('"')}, {"actor_id": 7}, {"actor_type": None}, {"sequence_number": True},
                {"success": 1}, {"timestamp": 12}, {"action": "\u2028"}, {"severity": None}):
        r = make(**odd)
        assert r.canonical_json() == reference_text(r) and r.checksum == reference(r), odd


def test_record_fields_list_every_field_but_the_checksum_in_sorted_order() -> None:
    assert list(RECORD_FIELDS) == sorted(FIELDS)


def test_audit_ids_are_distinct_version_4_uuids() -> None:
    # the pool is filled from os.urandom with uuid4's version and variant bits; several refills' worth of ids
    ids = [generate_audit_id() for _ in range(3000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text
    assert {text[19] for text in ids} == set("89ab")  # every variant digit occurs: the random bits are kept


@pytest.mark.parametrize("n", [0, 1, 5, 64, 1000])
def test_a_batch_of_ids_is_distinct_version_4_uuids(n: int) -> None:
    ids = generate_audit_ids(n) + generate_audit_ids(n)
    assert len(ids) == len(set(ids)) == 2 * n
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_a_refill_appends_fresh_ids() -> None:
    before = generate_audit_id()
    _refill_ids(4)
    fresh = [generate_audit_id() for _ in range(4)]
    assert before not in fresh and len(set(fresh)) == 4 and all(uuid.UUID(t).version == 4 for t in fresh)


@settings(max_examples=200, deadline=None)
@given(any_records(), st.sampled_from(STR_FIELDS), st.sampled_from(STR_FIELDS), st.integers(0, 8))
def test_canonical_text_is_unambiguous(a: AuditRecord, left: str, right: str, k: int) -> None:
    # the text is JSON that decodes back to the record's own fields, so different fields never share a text
    assert json.loads(a.canonical_json()) == json.loads(reference_text(a))
    # a near neighbour: k characters moved from one string field to the end of another (same concatenation)
    b = a.copy()
    lv, rv = getattr(a, left), getattr(a, right)
    if left != right and isinstance(lv, str) and isinstance(rv, str):
        setattr(b, left, lv + rv[:k])
        setattr(b, right, rv[k:])
    assert (a.canonical_json() == b.canonical_json()) == (reference_text(a) == reference_text(b))
    assert (a.canonical_json() == b.canonical_json()) == (a.to_dict() == b.to_dict())


def test_a_value_cannot_pose_as_another_field() -> None:
    # the attacker's move: smuggle a second field into one value so it hashes like a different record
    honest = make(action="read", actor_id="mallory")
    forged = make(action='read","actor_id":"mallory', actor_id="")
    assert forged.canonical_json() != honest.canonical_json() and forged.checksum != honest.checksum
    assert json.loads(forged.canonical_json())["action"] == 'read","actor_id":"mallory'


def test_checksums_of_records_written_before_keep_verifying() -> None:
    # known answers computed by the previous release (the generic encoder): stored chains must verify unchanged
    usual = AuditRecord(
        record_id="6f1c2b1e-0d4a-4c43-9a55-3e3c6f0e9b10", sequence_number=42,
        timestamp=datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=timezone.utc), event_type=AuditEventType.DATA_CREATED,
        severity=AuditSeverity.WARNING, tenant_id="acme", actor_type="user", actor_id="alice", action="read",
        resource_type="doc", resource_id="d1", metadata={"b": [1, 2.5, None], "a": "é"}, tags=["x", "y"],
        previous_checksum="ab" * 32,
    )
    escaped = AuditRecord(
        record_id="r2", sequence_number=1, timestamp=datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=2))),
        event_type=AuditEventType.DATA_DELETED, error_message='said "no"\n', success=False,
    )
    assert usual.checksum == "b72db021cad7744b1909603cbc979ac7b1000983769711162d5dddbb0539170a"
    assert escaped.checksum == "7d4c9948100bde37b1165b43d9fb3db8171be558d4f0137a0f7db1a1b6f1ed27"


def test_a_tool_calls_record_keeps_the_checksum_of_the_previous_release() -> None:
    # flat metadata now gets its text from a template instead of the encoder: the same bytes, the same checksum
    tool_call = AuditRecord(
        record_id="0b7e1c52-7a4f-4d0e-8f7e-2a1f0c9d3b21", sequence_number=7,
        timestamp=datetime(2026, 11, 27, 18, 0, 0, 654321, tzinfo=timezone.utc),
        event_type=AuditEventType.ACTION_COMPLETED, tenant_id="acme", agent_name="billing", actor_type="agent",
        actor_id="billing", action="tool_call", resource_type="tool", resource_id="lookup_invoice",
        metadata={"tool": "lookup_invoice", "decision": "allow", "args_digest": "c3" * 32, "duration_ms": 12.5,
                  "attempt": 1, "cached": False, "error": None, "risk": "low"},
        tags=["tool"], previous_checksum="9f" * 32,
    )
    assert tool_call.checksum == "5c9cef113b1359776114d4ada3741f82c63d052d30412dfb7882918ec0d84674"
    assert tool_call.checksum == reference(tool_call)


def _field_text(r: AuditRecord, name: str) -> str:
    """The text a field has in the canonical form: a nested field's JSON, a text field as it is."""
    value = r.to_dict()[name]
    return canonical_json(value) if name in ("old_value", "new_value", "metadata", "tags") else value


@settings(max_examples=300, deadline=None)
@given(any_records(), st.none() | st.just(b"k"))
def test_seal_sets_the_checksum_and_returns_the_texts_it_covered(r: AuditRecord, key: bytes | None) -> None:
    try:
        expected = reference(r, key)
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8 bytes to digest: refused, naming the field
        with pytest.raises(ValueError, match="holds a lone surrogate"):
            seal(r, hasher(key))
        return
    texts = seal(r, hasher(key))
    assert r.checksum == expected
    if texts is not None:  # the template wrote the text: the fields' own texts, as the SQL stores write them
        assert texts == tuple(_field_text(r, name) for name in SEALED_FIELDS)


def test_seal_keeps_the_texts_of_the_usual_record() -> None:
    r = make(metadata={"tool": "t", "ms": 1.5}, tags=["x"], old_value={"a": None}, checksum="not yet")
    assert seal(r, hasher(None)) == (
        "2024-01-02T00:00:00+00:00", "data.created", "info", '{"a":null}', "null", '{"ms":1.5,"tool":"t"}', '["x"]',
    )
    assert r.verify_integrity()


_utc_times = st.datetimes(min_value=datetime(1, 1, 1, 0, 0, 1), max_value=datetime(9999, 12, 31, 23, 59, 58)).map(
    lambda t: t.replace(tzinfo=timezone.utc))


@settings(max_examples=500, deadline=None)
@given(_utc_times, _utc_times, st.integers(-2_000_000, 2_000_000))
def test_utc_iso_is_isoformat_whatever_second_it_kept(before: datetime, at: datetime, step: int) -> None:
    utc_iso(before)  # the second it keeps: any other time, or (below) one a few microseconds to seconds away
    assert utc_iso(at) == at.isoformat()
    near = at + timedelta(microseconds=step)
    assert utc_iso(near) == near.isoformat()
    assert utc_iso(near.replace(microsecond=0)) == near.replace(microsecond=0).isoformat()  # no fraction at .0


class _OwnFormat(datetime):
    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "its own text"


def test_utc_iso_leaves_other_zones_naive_times_and_subclasses_to_isoformat() -> None:
    now = datetime.now(timezone.utc)
    utc_iso(now)
    own = _OwnFormat(now.year, now.month, now.day, now.hour, now.minute, now.second, now.microsecond, timezone.utc)
    for other in (now.astimezone(timezone(timedelta(hours=2))), now.replace(tzinfo=None),
                  now.replace(tzinfo=timezone(timedelta(0))), own):
        assert utc_iso(other) == other.isoformat()
    assert utc_iso(own) == "its own text"


def test_a_hasher_digests_as_digest_does() -> None:
    text = '{"k":"é"}'
    for key in (None, b"k"):
        assert hasher(key)(text.encode("utf-8")).hexdigest() == reference_digest(text, key)


def reference_digest(text: str, key: bytes | None) -> str:
    data = text.encode("utf-8")
    return hmac.new(key, data, hashlib.sha256).hexdigest() if key else hashlib.sha256(data).hexdigest()
