"""``AuditRecord``: one mutable audit entry whose checksum covers every field (contract §4.2)."""

from __future__ import annotations

import hmac
import operator
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from llmteam._isotime import iso_text
from llmteam.audit._checksum import Hasher, digest, get_checksum_key, utf8
from llmteam.audit._enums import AuditEventType, AuditSeverity
from llmteam.audit.verifier import RECORD_FIELDS, canonical_record_parts, canonical_record_values

__all__ = [
    "BATCH_IDS", "SEALED_FIELDS", "AuditRecord", "as_utc", "deep_copy", "enum_value", "generate_audit_id",
    "generate_audit_ids", "parse_event_type", "parse_severity", "seal", "utc_iso",
]


_ID_POOL: list[str] = []  # prepared uuid4 strings; list.pop() is atomic, so threads never share one
os.register_at_fork(after_in_child=_ID_POOL.clear)  # a forked child must not reuse the parent's ids


_VERSION_4 = bytes(b & 0x0F | 0x40 for b in range(256))  # byte 6 of a uuid4: the version nibble 0100
_VARIANT_RFC = bytes(b & 0x3F | 0x80 for b in range(256))  # byte 8: the RFC 4122 variant bits 10
BATCH_IDS = 64  # from this many ids on, generate_audit_ids makes them in one go (a fixed cost of ~32 slices)
_DIGIT_AT = tuple(i + sum(i >= d for d in (8, 12, 16, 20)) for i in range(32))  # hex digit i's place in the text


def _fresh_ids(n: int) -> list[str]:
    """``n`` ids from one ``os.urandom`` call, with ``uuid.uuid4()``'s bits and text but no per-id objects.

    The version and variant bits are set as ``uuid.UUID(bytes=..., version=4)`` sets them; the text is written
    column by column (each hex digit of every id in one slice assignment) and split into ids at the spaces.
    """
    raw = bytearray(os.urandom(16 * n))
    raw[6::16] = raw[6::16].translate(_VERSION_4)
    raw[8::16] = raw[8::16].translate(_VARIANT_RFC)
    digits = raw.hex().encode("ascii")
    text = bytearray(b"-" * 36 + b" ") * n  # n ids of 8-4-4-4-12 digits, each followed by a space
    for i, at in enumerate(_DIGIT_AT):
        text[at::37] = digits[i::32]
    return text.decode("ascii").split()


def _refill_ids(n: int = 256) -> None:
    """Add ``n`` prepared ids to the pool."""
    _ID_POOL.extend(_fresh_ids(n))


def generate_audit_id() -> str:
    """A fresh uuid4 string identifying one audit record (same format as ``str(uuid.uuid4())``, built faster)."""
    while True:
        try:
            return _ID_POOL.pop()
        except IndexError:
            _refill_ids()


def generate_audit_ids(n: int) -> list[str]:
    """``n`` fresh ids (as :func:`generate_audit_id`'s): from :data:`BATCH_IDS` on made at once, outside the pool."""
    return _fresh_ids(n) if n >= BATCH_IDS else [generate_audit_id() for _ in range(n)]


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware datetime; naive values are taken to be UTC (hardening)."""
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, got {value!r}")
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def parse_event_type(value: Any) -> AuditEventType:
    """An :class:`AuditEventType` from a member or its value; anything else raises ``ValueError`` naming it."""
    if isinstance(value, AuditEventType):
        return value
    try:
        return AuditEventType(value)
    except ValueError:
        raise ValueError(
            f"unknown audit event type {value!r}; use an AuditEventType member such as AuditEventType.DATA_CREATED"
        ) from None


def parse_severity(value: Any) -> AuditSeverity:
    """An :class:`AuditSeverity` from a member or its value; anything else raises ``ValueError`` naming it."""
    if isinstance(value, AuditSeverity):
        return value
    try:
        return AuditSeverity(value)
    except ValueError:
        raise ValueError(f"unknown audit severity {value!r}; use one of {[s.value for s in AuditSeverity]}") from None


_SCALARS = frozenset((str, int, float, bool, type(None)))  # immutable: a copy holds the same object


def deep_copy(value: Any) -> Any:
    """Copy dicts, lists, tuples and sets recursively (JSON-like data); other values are returned as they are.

    A container of a subclass (an ``OrderedDict``, a ``defaultdict``, a caller's own dict or list type) becomes a
    plain one holding the items the JSON encoder writes for it (the base type's own items, whatever the subclass
    overrides), so a record never shares a container with its caller.
    """
    t = type(value)
    if t is dict:  # a scalar item is kept as it is without a call: metadata is usually flat
        return {k: v if type(v) in _SCALARS else deep_copy(v) for k, v in value.items()}
    if t is list:
        return [v if type(v) in _SCALARS else deep_copy(v) for v in value]
    if t is tuple:
        return tuple(deep_copy(v) for v in value)
    if t is set:
        return {deep_copy(v) for v in value}
    if isinstance(value, dict):
        return deep_copy(dict.copy(value))
    if isinstance(value, list):
        return deep_copy(list.copy(value))
    if isinstance(value, tuple):
        return tuple(deep_copy(v) for v in tuple.__iter__(value))
    if isinstance(value, set):
        return {deep_copy(v) for v in set.__iter__(value)}
    return value


_ENUMS = frozenset((AuditEventType, AuditSeverity))


def enum_value(value: Any) -> Any:
    """The wire value of an event type or severity member; any other value is returned as it is.

    Read as the member's ``_value_`` (the enum module's documented attribute behind ``value``): the ``value``
    property and a dict keyed by members (whose ``__hash__`` is Python code) both cost a Python call per record.
    """
    return value._value_ if type(value) in _ENUMS else value


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


utc_iso = iso_text()
"""``timestamp.isoformat()`` of the trail's record times (aware UTC), from the text of the second kept: see
:func:`llmteam._isotime.iso_text`."""
_read_iso = iso_text()  # the same for records being checked (a chain read in order): a stream of its own


class _KeyUnset:
    """The default of :meth:`AuditRecord.compute_checksum`'s key: look up the configured one."""


_KEY_UNSET = _KeyUnset()


@dataclass
class AuditRecord:
    """One audit entry; ``checksum`` (computed when empty) covers every other field.

    ``previous_checksum`` links it to the record before it in its tenant's chain.
    """

    record_id: str
    sequence_number: int
    timestamp: datetime
    event_type: AuditEventType
    severity: AuditSeverity = AuditSeverity.INFO
    tenant_id: str = ""
    pipeline_id: str = ""
    run_id: str = ""
    agent_name: str = ""
    step_name: str = ""
    actor_type: str = ""
    actor_id: str = ""
    actor_ip: str = ""
    actor_user_agent: str = ""
    action: str = ""
    resource_type: str = ""
    resource_id: str = ""
    old_value: dict[str, Any] | None = None
    new_value: dict[str, Any] | None = None
    success: bool = True
    error_message: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    checksum: str = ""
    previous_checksum: str = ""

    def __post_init__(self) -> None:
        if not self.checksum:
            self.checksum = self.compute_checksum()

    def canonical_json(self) -> str:
        """The canonical text the checksum covers (contract §4.2): every field of :meth:`to_dict` but ``checksum``."""
        return canonical_record_values(self._canonical_values())

    def _canonical_values(self, timestamp_text: str | None = None) -> tuple[Any, ...]:
        """The values the checksum covers, in ``RECORD_FIELDS`` order, as :meth:`to_dict` gives them.

        ``timestamp_text``: the timestamp's ``isoformat()`` when the caller has it already (:func:`utc_iso`).
        """
        event_type, severity, ts = self.event_type, self.severity, self.timestamp
        if timestamp_text is None:  # isoformat() as iso_text writes it (x3 faster for a chain's times, in order)
            timestamp_text = _read_iso(ts) if isinstance(ts, datetime) else ts
        return (  # enum_value() and _iso() written out: three Python calls less per record
            self.action, self.actor_id, self.actor_ip, self.actor_type, self.actor_user_agent, self.agent_name,
            self.error_message, event_type._value_ if type(event_type) in _ENUMS else event_type, self.metadata,
            self.new_value, self.old_value, self.pipeline_id, self.previous_checksum, self.record_id, self.resource_id,
            self.resource_type, self.run_id, self.sequence_number,
            severity._value_ if type(severity) in _ENUMS else severity, self.step_name, self.success, self.tags,
            self.tenant_id, timestamp_text,
        )

    def compute_checksum(self, key: bytes | _KeyUnset | None = _KEY_UNSET) -> str:
        """The checksum of the current field values under ``key`` (default: the configured key, or plain SHA-256).

        A caller sealing many records at once (the trail) looks the key up once and passes it in.
        """
        return digest(self.canonical_json(), get_checksum_key() if isinstance(key, _KeyUnset) else key)

    def verify_integrity(self) -> bool:
        """True when the stored checksum equals a freshly computed one."""
        return hmac.compare_digest(str(self.checksum), self.compute_checksum())

    def _body(self) -> dict[str, Any]:
        """Every field but ``checksum``; ``timestamp`` as an ISO string, enums as their values."""
        return {
            "record_id": self.record_id,
            "sequence_number": self.sequence_number,
            "timestamp": _iso(self.timestamp),
            "event_type": enum_value(self.event_type),
            "severity": enum_value(self.severity),
            "tenant_id": self.tenant_id,
            "pipeline_id": self.pipeline_id,
            "run_id": self.run_id,
            "agent_name": self.agent_name,
            "step_name": self.step_name,
            "actor_type": self.actor_type,
            "actor_id": self.actor_id,
            "actor_ip": self.actor_ip,
            "actor_user_agent": self.actor_user_agent,
            "action": self.action,
            "resource_type": self.resource_type,
            "resource_id": self.resource_id,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "success": self.success,
            "error_message": self.error_message,
            "metadata": self.metadata,
            "tags": self.tags,
            "previous_checksum": self.previous_checksum,
        }

    def to_dict(self) -> dict[str, Any]:
        """Every field in declaration order; ``timestamp`` as an ISO string, enums as their values."""
        body = self._body()
        previous = body.pop("previous_checksum")  # re-added after ``checksum``, where the dataclass declares it
        body["checksum"] = self.checksum
        body["previous_checksum"] = previous
        return body

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AuditRecord:
        """Rebuild a record from :meth:`to_dict` output, keeping its checksum as given (not recomputed)."""
        ts = d["timestamp"]
        return cls(
            record_id=d["record_id"],
            sequence_number=d["sequence_number"],
            timestamp=datetime.fromisoformat(ts) if isinstance(ts, str) else ts,
            event_type=parse_event_type(d["event_type"]),
            severity=parse_severity(d.get("severity", AuditSeverity.INFO)),
            tenant_id=d.get("tenant_id", ""),
            pipeline_id=d.get("pipeline_id", ""),
            run_id=d.get("run_id", ""),
            agent_name=d.get("agent_name", ""),
            step_name=d.get("step_name", ""),
            actor_type=d.get("actor_type", ""),
            actor_id=d.get("actor_id", ""),
            actor_ip=d.get("actor_ip", ""),
            actor_user_agent=d.get("actor_user_agent", ""),
            action=d.get("action", ""),
            resource_type=d.get("resource_type", ""),
            resource_id=d.get("resource_id", ""),
            old_value=d.get("old_value"),
            new_value=d.get("new_value"),
            success=d.get("success", True),
            error_message=d.get("error_message", ""),
            metadata=d["metadata"] if "metadata" in d else {},
            tags=d["tags"] if "tags" in d else [],
            checksum=d.get("checksum", ""),
            previous_checksum=d.get("previous_checksum", ""),
        )

    def copy(self) -> AuditRecord:
        """An equal record sharing no mutable containers with this one (the checksum is carried over)."""
        if type(self) is AuditRecord:  # fast path: empty containers are the common case and need no deep copy
            old, nv, md, tags = self.old_value, self.new_value, self.metadata, self.tags
            # the constructor (not __dict__.update) keeps the instance dict unmaterialised: fewer objects for GC
            new = AuditRecord(
                self.record_id, self.sequence_number, self.timestamp, self.event_type, self.severity,
                self.tenant_id, self.pipeline_id, self.run_id, self.agent_name, self.step_name, self.actor_type,
                self.actor_id, self.actor_ip, self.actor_user_agent, self.action, self.resource_type,
                self.resource_id, None if old is None else deep_copy(old), None if nv is None else deep_copy(nv),
                self.success, self.error_message, {} if type(md) is dict and not md else deep_copy(md),
                [] if type(tags) is list and not tags else deep_copy(tags), self.checksum, self.previous_checksum,
            )
            if not self.checksum:
                new.checksum = self.checksum  # carried over as it is, even when empty
            return new
        return AuditRecord(
            self.record_id, self.sequence_number, self.timestamp, self.event_type, self.severity, self.tenant_id,
            self.pipeline_id, self.run_id, self.agent_name, self.step_name, self.actor_type, self.actor_id,
            self.actor_ip, self.actor_user_agent, self.action, self.resource_type, self.resource_id,
            deep_copy(self.old_value), deep_copy(self.new_value), self.success, self.error_message,
            deep_copy(self.metadata), deep_copy(self.tags), self.checksum, self.previous_checksum,
        )


SEALED_FIELDS = ("timestamp", "event_type", "severity", "old_value", "new_value", "metadata", "tags")
"""The fields whose text :func:`seal` returns: the ISO timestamp, the enum values, the nested fields' JSON."""
_sealed_texts = operator.itemgetter(*(2 * RECORD_FIELDS.index(name) + 1 for name in SEALED_FIELDS))


def seal(record: AuditRecord, key_hash: Hasher, timestamp_text: str | None = None) -> tuple[str, ...] | None:
    """Set ``record.checksum`` with ``key_hash`` (:func:`llmteam.audit._checksum.hasher` of the key in force);
    return the texts its canonical text holds for :data:`SEALED_FIELDS`.

    ``timestamp_text``: ``utc_iso(record.timestamp)``, when the caller has it.
    None when the record needed the encoder itself (see :func:`llmteam.audit.verifier.canonical_record_parts`).
    The trail seals every record it builds and hands the texts to the store with it
    (:meth:`AuditStoreBase.append_sealed`) before anyone else has seen the record, so a SQL store writes those
    columns from the very texts the checksum covers instead of encoding the fields again.
    """
    values = record._canonical_values(timestamp_text)
    parts = canonical_record_parts(values)  # the usual record; else the encoder writes it (canonical_record_values)
    record.checksum = key_hash(utf8("".join(parts) if parts else canonical_record_values(values))).hexdigest()
    return None if parts is None else _sealed_texts(parts)
