"""Record checksums: the canonical JSON of every field, digested with SHA-256 or HMAC-SHA256.

The canonical form is fixed by the contract: ``json.dumps(to_dict() minus "checksum", sort_keys=True,
separators=(",", ":"), ensure_ascii=False, default=str)``. Building a dict and running the generic encoder per
record costs ~5 us, so :func:`canonical_fields` writes the same text from a fixed template with the C string
encoder; it falls back to the generic form whenever a field has an unexpected type. A property test keeps the
two byte-identical.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from llmteam.audit.verifier import HMAC_ENV, canonical_record_json

__all__ = ["canonical_fields", "digest", "get_checksum_key", "nested_json", "set_checksum_key"]

_UNSET: Any = object()
_configured_key: Any = _UNSET


def set_checksum_key(key: bytes | None) -> None:
    """Use HMAC-SHA256 with ``key`` for every checksum from now on (``None``: back to the environment/SHA-256)."""
    global _configured_key
    if key is not None and (not isinstance(key, bytes) or not key):
        raise ValueError(f"audit checksum key must be non-empty bytes, got {type(key).__name__}")
    _configured_key = _UNSET if key is None else key


# os.environ.get() re-encodes the name on every call (~0.5 us, per record); read the raw mapping it keeps
# in sync instead, and decode only when the raw value changes. Falls back to os.environ.get() elsewhere.
_env_data: Any = getattr(os.environ, "_data", None)
try:
    _env_name: Any = os.environ.encodekey(HMAC_ENV)
except AttributeError:  # pragma: no cover - not CPython's os.environ
    _env_data = None
_env_cache: tuple[Any, bytes | None] = (None, None)


def get_checksum_key() -> bytes | None:
    """The HMAC key in force: set_checksum_key's, else env LLMTEAM_AUDIT_HMAC_KEY (UTF-8), else None."""
    global _env_cache
    if _configured_key is not _UNSET:
        return _configured_key  # type: ignore[no-any-return]
    if _env_data is None:  # pragma: no cover
        env = os.environ.get(HMAC_ENV)
        return env.encode("utf-8") if env else None
    raw = _env_data.get(_env_name)
    cached_raw, key = _env_cache
    if raw is cached_raw or (raw is not None and raw == cached_raw):
        return key
    env = os.environ.get(HMAC_ENV)
    key = env.encode("utf-8") if env else None
    _env_cache = (raw, key)
    return key


def digest(canonical: str, key: bytes | None) -> str:
    """64-char lowercase hex SHA-256, or HMAC-SHA256 when ``key`` is set, of the UTF-8 canonical text."""
    data = canonical.encode("utf-8")
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


_E = encode_basestring  # the C implementation when available; identical output to json.dumps for str
if c_make_encoder is not None:  # pragma: no branch - CPython always has it
    _nested_encoder = c_make_encoder(None, str, _E, None, ":", ",", True, False, True)

    def nested_json(value: Any) -> str:
        """Canonical JSON of a nested value (metadata, tags, old/new value), as in the contract's json.dumps."""
        if value is None:
            return "null"
        if not value and type(value) in (dict, list):
            return "{}" if type(value) is dict else "[]"
        return "".join(_nested_encoder(value, 0))
else:  # pragma: no cover

    def nested_json(value: Any) -> str:
        """Canonical JSON of a nested value (metadata, tags, old/new value), as in the contract's json.dumps."""
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_STR_FIELDS = (
    "action", "actor_id", "actor_ip", "actor_type", "actor_user_agent", "agent_name", "error_message",
    "pipeline_id", "previous_checksum", "record_id", "resource_id", "resource_type", "run_id", "step_name",
    "tenant_id",
)


def canonical_fields(
    action: Any, actor_id: Any, actor_ip: Any, actor_type: Any, actor_user_agent: Any, agent_name: Any,
    error_message: Any, event_type: Any, metadata: str, new_value: str, old_value: str, pipeline_id: Any,
    previous_checksum: Any, record_id: Any, resource_id: Any, resource_type: Any, run_id: Any,
    sequence_number: int, severity: Any, step_name: Any, success: bool, tags: str, tenant_id: Any,
    timestamp: str,
) -> str:
    """Canonical text from field values in sorted-key order; nested fields are already canonical JSON text."""
    E = _E
    return (
        f'{{"action":{E(action)},"actor_id":{E(actor_id)},"actor_ip":{E(actor_ip)},"actor_type":{E(actor_type)},'
        f'"actor_user_agent":{E(actor_user_agent)},"agent_name":{E(agent_name)},'
        f'"error_message":{E(error_message)},"event_type":{E(event_type)},"metadata":{metadata},'
        f'"new_value":{new_value},"old_value":{old_value},"pipeline_id":{E(pipeline_id)},'
        f'"previous_checksum":{E(previous_checksum)},"record_id":{E(record_id)},"resource_id":{E(resource_id)},'
        f'"resource_type":{E(resource_type)},"run_id":{E(run_id)},"sequence_number":{sequence_number},'
        f'"severity":{E(severity)},"step_name":{E(step_name)},"success":{"true" if success else "false"},'
        f'"tags":{tags},"tenant_id":{E(tenant_id)},"timestamp":{E(timestamp)}}}'
    )


def fast_path_ok(values: dict[str, Any]) -> bool:
    """True when every scalar field has the exact type the template encodes like json.dumps does."""
    return all(type(values[name]) is str for name in _STR_FIELDS)


def generic_canonical(d: dict[str, Any]) -> str:
    """The contract's canonical text computed the slow, obviously-correct way (used as a fallback)."""
    return canonical_record_json(d)
