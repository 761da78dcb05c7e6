"""Standalone verifier for llmteam audit data: record checksums, Merkle proofs and signed checkpoints.

This file imports only the standard library and, for signatures, ``cryptography``; copy it anywhere and run
``python verifier.py --public-key KEY.pub proof.json [old-checkpoint.json]`` (or ``python -m
llmteam.audit.verifier ...``) to check, offline and with nothing but the deployment's public key, that a record is
intact, that it is included in the tree a signed checkpoint commits to (RFC 6962 / RFC 9162 hashing: leaf =
SHA-256(0x00 || checksum), node = SHA-256(0x01 || l || r)), and that one checkpoint extends another (a
consistency proof). llmteam.audit builds its proofs with these same functions, so there is one definition of
every hash.

A checkpoint signature covers :data:`CHECKPOINT_DOMAIN` followed by the canonical JSON (sorted keys, no spaces,
ASCII) of ``{"version", "tenant_id", "tree_size", "root_hash", "issued_at"}``; every field is validated before
signing and before verifying, so no field value can be read as another field or another tenant's checkpoint.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import operator
import os
import re
import sys
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CHECKPOINT_DOMAIN",
    "CHECKPOINT_VERSION",
    "RECORD_FIELDS",
    "NotComparableError",
    "VerificationError",
    "canonical_json",
    "canonical_record_json",
    "canonical_record_parts",
    "canonical_record_values",
    "checkpoint_fields",
    "checkpoint_message",
    "leaf_hash",
    "load_public_key",
    "node_hash",
    "record_checksum",
    "verify_checkpoint",
    "verify_consistency",
    "verify_inclusion",
    "verify_inclusion_bundle",
    "verify_record",
]

CHECKPOINT_VERSION = 2
CHECKPOINT_DOMAIN = b"llmteam-audit-checkpoint/v2\x00"
HMAC_ENV = "LLMTEAM_AUDIT_HMAC_KEY"
MAX_TENANT_ID_LENGTH = 256  # the same bound as llmteam.tenancy's validate_tenant_id (a test compares the two)
MAX_TREE_SIZE = 2**63 - 1
_HEX64 = re.compile(r"[0-9a-f]{64}")
_ISSUED_AT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00")
_CHECKPOINT_KEYS = frozenset(("version", "tenant_id", "tree_size", "root_hash", "issued_at", "signature", "public_key"))


class VerificationError(Exception):
    """A record, proof or checkpoint did not verify."""


class NotComparableError(VerificationError):
    """The inputs cannot be checked against each other (e.g. a proof from another base size): not tampering."""


# json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str), with the encoder
# built once instead of per call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)

RECORD_FIELDS = (
    "action", "actor_id", "actor_ip", "actor_type", "actor_user_agent", "agent_name", "error_message", "event_type",
    "metadata", "new_value", "old_value", "pipeline_id", "previous_checksum", "record_id", "resource_id",
    "resource_type", "run_id", "sequence_number", "severity", "step_name", "success", "tags", "tenant_id", "timestamp",
)
"""Every field a record checksum covers (all of ``to_dict()`` but ``checksum``), in canonical (sorted) order."""

# The usual record's canonical text is written from a fixed template (canonical_record_parts): the keys in
# RECORD_FIELDS order, each text field between quotes as it is, each other field as its JSON text. It serves records
# whose text fields are str needing no JSON escape (no '"', '\\' or control character below U+0020, which are the only
# characters the encoder escapes with ensure_ascii=False), whose sequence number is an int and whose success is a
# bool; any other record goes through the encoder itself. str.join writes a str subclass as the text it holds, as the
# encoder does (never its __str__). tests/audit/test_audit_verifier.py compares the two.
_MARK_ESCAPED = bytes(b ^ 0x80 if b < 0x20 or b in b'"\\' else b for b in range(256))  # changes those bytes only
_values_of = operator.itemgetter(*RECORD_FIELDS)
_FIELD_SET = frozenset(RECORD_FIELDS)
_JSON_BOOL = ("false", "true")
_EMPTY_TEXT = {type(None): "null", dict: "{}", list: "[]", tuple: "[]"}  # the encoder's text for these when empty


def canonical_json(value: Any) -> str:
    """Canonical JSON text: sorted keys, no spaces, UTF-8 characters kept, anything else as ``str(value)``.

    An empty dict, list or None is written without the encoder (the usual nested field); anything else, a tool
    call's flat metadata included, by the encoder itself: a template for flat dicts measured no faster than it
    (callgrind, 8-key tool-call metadata: 40k instructions against 38k).
    """
    empty = _EMPTY_TEXT.get(type(value))
    if empty is not None and not value:
        return empty
    return _CANONICAL.encode(value)


def canonical_record_parts(values: Sequence[Any]) -> list[str] | None:
    """The pieces of the canonical text of a record whose fields, in :data:`RECORD_FIELDS` order, hold ``values``.

    ``"".join(parts)`` is that text; field ``i``'s own text is ``parts[2 * i + 1]`` (a string field's value
    without its quotes, a number's, boolean's or nested field's JSON text). None when the record needs the
    encoder itself: a text field needing a JSON escape or not a str, a sequence number not an int, a success not
    a bool. llmteam's trail keeps a record's nested fields' texts from these pieces for the SQL stores' columns.
    """
    try:  # the unpacking checks the count (no len() calls on the way of every record)
        (action, actor_id, actor_ip, actor_type, actor_user_agent, agent_name, error_message, event_type, metadata,
         new_value, old_value, pipeline_id, previous_checksum, record_id, resource_id, resource_type, run_id,
         sequence_number, severity, step_name, success, tags, tenant_id, timestamp) = values
    except ValueError:
        raise ValueError(f"expected the {len(RECORD_FIELDS)} values of RECORD_FIELDS, got {len(values)}") from None
    try:  # one C pass: a TypeError unless every text field is a str
        texts = "".join((
            action, actor_id, actor_ip, actor_type, actor_user_agent, agent_name, error_message, event_type,
            pipeline_id, previous_checksum, record_id, resource_id, resource_type, run_id, severity, step_name,
            tenant_id, timestamp,
        ))
    except TypeError:
        return None
    raw = texts.encode("utf-8", "surrogatepass")  # as UTF-8 bytes: no multi-byte character holds one (all >= 0x80)
    if type(sequence_number) is not int or type(success) is not bool or raw.translate(_MARK_ESCAPED) != raw:
        return None
    # the usual nested field is empty (no metadata, no tags, no old or new value): its text without a call
    return [
        '{"action":"', action, '","actor_id":"', actor_id, '","actor_ip":"', actor_ip, '","actor_type":"', actor_type,
        '","actor_user_agent":"', actor_user_agent, '","agent_name":"', agent_name, '","error_message":"',
        error_message, '","event_type":"', event_type, '","metadata":',
        "{}" if type(metadata) is dict and not metadata else canonical_json(metadata), ',"new_value":',
        "null" if new_value is None else canonical_json(new_value), ',"old_value":',
        "null" if old_value is None else canonical_json(old_value), ',"pipeline_id":"', pipeline_id,
        '","previous_checksum":"', previous_checksum, '","record_id":"', record_id, '","resource_id":"', resource_id,
        '","resource_type":"', resource_type, '","run_id":"', run_id, '","sequence_number":', str(sequence_number),
        ',"severity":"', severity, '","step_name":"', step_name, '","success":', "true" if success else "false",
        ',"tags":', "[]" if type(tags) is list and not tags else canonical_json(tags), ',"tenant_id":"', tenant_id,
        '","timestamp":"', timestamp, '"}',
    ]


def canonical_record_values(values: Sequence[Any]) -> str:
    """The canonical text of a record whose fields, in :data:`RECORD_FIELDS` order, hold ``values``.

    Always the text of ``json.dumps(dict(zip(RECORD_FIELDS, values)), sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, default=str)``; the usual record is written from a template
    (:func:`canonical_record_parts`), faster.
    """
    parts = canonical_record_parts(values)
    return _CANONICAL.encode(dict(zip(RECORD_FIELDS, values, strict=True))) if parts is None else "".join(parts)


def canonical_record_json(record: Mapping[str, Any]) -> str:
    """The canonical text a record checksum covers: every field of ``to_dict()`` except ``checksum``."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    if body.keys() == _FIELD_SET:
        return canonical_record_values(_values_of(body))
    return _CANONICAL.encode(body)


def record_checksum(record: Mapping[str, Any], key: bytes | None = None) -> str:
    """SHA-256 (or HMAC-SHA256 when ``key`` is given) of the canonical record, as 64 lowercase hex digits."""
    data = canonical_record_json(record).encode("utf-8")
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def verify_record(record: Mapping[str, Any], key: bytes | None = None) -> None:
    """Raise :class:`VerificationError` unless the record's stored checksum matches its fields."""
    stored = record.get("checksum")
    if not isinstance(stored, str):
        raise VerificationError(f"record {record.get('record_id')!r} has no checksum")
    if not hmac.compare_digest(stored, record_checksum(record, key)):
        raise VerificationError(
            f"record {record.get('record_id')!r} (sequence {record.get('sequence_number')!r}) was modified: "
            "its checksum does not match its fields (or a different HMAC key is configured)"
        )


def leaf_hash(checksum_hex: str) -> bytes:
    """The RFC 6962 leaf hash of one record: SHA-256(0x00 || raw checksum bytes)."""
    return hashlib.sha256(b"\x00" + bytes.fromhex(checksum_hex)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf_index: int, tree_size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove ``leaf`` sits at ``leaf_index`` of the tree with ``root``?"""
    if leaf_index < 0 or leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``path`` prove the tree of size ``second`` extends the one of size ``first``?"""
    if first < 0 or second < first:
        return False
    if first == second:
        return not path and hmac.compare_digest(first_root, second_root)
    if first == 0:
        return not path
    if not path:
        return False
    proof = list(path)
    if first & (first - 1) == 0:
        proof.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, first_root) and hmac.compare_digest(sr, second_root)


def tenant_id_problem(tenant_id: object) -> str | None:
    """Why ``tenant_id`` is not a usable tenant id (None when it is); mirrors llmteam.tenancy's rule."""
    if not isinstance(tenant_id, str):
        return f"must be a string, not {type(tenant_id).__name__}"
    if not tenant_id.strip():
        return "is empty or only whitespace"
    if len(tenant_id) > MAX_TENANT_ID_LENGTH:
        return f"is {len(tenant_id)} characters long (the maximum is {MAX_TENANT_ID_LENGTH})"
    bad = next((ch for ch in tenant_id if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")), None)
    return None if bad is None else f"contains the control or format character {bad!r}"


def checkpoint_fields(tenant_id: object, tree_size: object, root_hash: object, issued_at: object) -> dict[str, Any]:
    """The signed fields of a checkpoint, each validated; raise :class:`VerificationError` naming a bad one."""
    problem = tenant_id_problem(tenant_id)
    if problem:
        raise VerificationError(f"checkpoint tenant_id {str(tenant_id)[:60]!r} {problem}")
    if type(tree_size) is not int or not 0 <= tree_size <= MAX_TREE_SIZE:
        raise VerificationError(f"checkpoint tree_size {str(tree_size)[:30]!r} must be an integer >= 0")
    if not isinstance(root_hash, str) or not _HEX64.fullmatch(root_hash):
        raise VerificationError(f"checkpoint root_hash {str(root_hash)[:80]!r} must be 64 lowercase hex digits")
    if not isinstance(issued_at, str) or not _ISSUED_AT.fullmatch(issued_at):
        raise VerificationError(
            f"checkpoint issued_at {str(issued_at)[:60]!r} must be an ISO 8601 UTC time like 2026-01-31T12:00:00+00:00"
        )
    return {
        "version": CHECKPOINT_VERSION, "tenant_id": tenant_id, "tree_size": tree_size, "root_hash": root_hash,
        "issued_at": issued_at,
    }


def checkpoint_message(tenant_id: object, tree_size: object, root_hash: object, issued_at: object) -> bytes:
    """The exact bytes a checkpoint signature covers: the domain prefix, then canonical JSON of the fields."""
    fields = checkpoint_fields(tenant_id, tree_size, root_hash, issued_at)
    return CHECKPOINT_DOMAIN + json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def load_public_key(data: bytes | str) -> bytes:
    """A raw 32-byte Ed25519 public key from raw bytes, base64 text or a PEM block."""
    if isinstance(data, bytes) and len(data) == 32:
        return data
    text = data.decode() if isinstance(data, bytes) else data
    text = text.strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise VerificationError("the PEM public key is not an Ed25519 key")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = base64.b64decode(text)
    if len(raw) != 32:
        raise VerificationError(f"an Ed25519 public key has 32 bytes, got {len(raw)}; pass base64 of the raw key")
    return raw


def as_checkpoint(data: object) -> Mapping[str, Any]:
    """A checkpoint from a bare checkpoint object or ``{"checkpoint": ...}`` (the output of ``audit checkpoint``)."""
    if isinstance(data, Mapping) and "tenant_id" not in data and isinstance(data.get("checkpoint"), Mapping):
        data = data["checkpoint"]
    if not isinstance(data, Mapping):
        kind = "a JSON array (several tenants? pass one element, or use --tenant)" if isinstance(data, list) else (
            type(data).__name__)
        raise VerificationError(f"expected a checkpoint JSON object, got {kind}")
    return data


def verify_checkpoint(checkpoint: object, public_key: bytes) -> None:
    """Raise :class:`VerificationError` unless ``checkpoint`` is well formed and signed by ``public_key`` (raw)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    cp = as_checkpoint(checkpoint)
    unknown = sorted(str(k) for k in set(cp) - _CHECKPOINT_KEYS)
    if unknown:
        raise VerificationError(f"malformed checkpoint: unknown field(s) {unknown}")
    if cp.get("version") != CHECKPOINT_VERSION:
        raise VerificationError(
            f"checkpoint format version {cp.get('version')!r} is not accepted (only {CHECKPOINT_VERSION}: older "
            "signatures cover an ambiguous message); sign a new one with `llmteam audit checkpoint`"
        )
    missing = [k for k in ("tenant_id", "tree_size", "root_hash", "issued_at", "signature") if k not in cp]
    if missing:
        raise VerificationError(f"malformed checkpoint: missing field(s) {missing}")
    msg = checkpoint_message(cp["tenant_id"], cp["tree_size"], cp["root_hash"], cp["issued_at"])
    try:
        sig = base64.b64decode(str(cp["signature"]), validate=True)
        if len(sig) != 64:
            raise ValueError(f"an Ed25519 signature has 64 bytes, got {len(sig)}")
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, msg)
    except ValueError as exc:
        raise VerificationError(f"malformed checkpoint signature: {exc}") from exc
    except InvalidSignature as exc:
        raise VerificationError(
            f"checkpoint for tenant {cp['tenant_id']!r} size {cp['tree_size']!r} "
            "is not signed by the given public key"
        ) from exc


def _hex_path(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list) or not all(isinstance(h, str) and _HEX64.fullmatch(h) for h in value):
        raise VerificationError(f"malformed {what}: its path must be a list of 64-hex-digit hashes")
    return [bytes.fromhex(h) for h in value]


def _int_field(bundle: Mapping[str, Any], name: str, what: str) -> int:
    value = bundle.get(name)
    if type(value) is not int or not 0 <= value <= MAX_TREE_SIZE:
        raise VerificationError(f"malformed {what}: {name} {str(value)[:30]!r} must be an integer >= 0")
    return value


def verify_inclusion_bundle(bundle: Mapping[str, Any], public_key: bytes, hmac_key: bytes | None = None) -> None:
    """Check an inclusion-proof bundle (as printed by ``llmteam audit prove``) end to end; raise on failure."""
    if not isinstance(bundle, Mapping) or not isinstance(bundle.get("record"), Mapping):
        raise VerificationError("malformed inclusion proof: expected a JSON object with a 'record' object")
    record, cp = bundle["record"], as_checkpoint(bundle.get("checkpoint"))
    path = _hex_path(bundle.get("path"), "inclusion proof")
    index = _int_field(bundle, "leaf_index", "inclusion proof")
    size = _int_field(bundle, "tree_size", "inclusion proof")
    verify_checkpoint(cp, public_key)
    verify_record(record, hmac_key)
    if record.get("tenant_id") != cp["tenant_id"] or size != cp["tree_size"]:
        raise VerificationError("the proof's record, tree size and checkpoint do not belong together")
    seq = record.get("sequence_number")
    if type(seq) is not int or index != seq - 1:
        raise VerificationError(f"leaf index {index} does not match sequence {seq!r}")
    checksum = record["checksum"]
    if not _HEX64.fullmatch(checksum) or not verify_inclusion(
        index, size, leaf_hash(checksum), path, bytes.fromhex(cp["root_hash"])
    ):
        raise VerificationError(f"record sequence {seq!r} is not in the tree of size {size} the checkpoint signs")


def verify_extends(old: object, bundle: Mapping[str, Any], public_key: bytes) -> None:
    """Check that the bundle's checkpoint extends the older checkpoint ``old`` (both signed by ``public_key``).

    Raise :class:`NotComparableError` (not a tamper alarm) when the bundle's consistency proof starts from
    another size than ``old``'s, or there is none: ask for one with ``llmteam audit checkpoint --consistency-from``.
    """
    old_cp, new_cp = as_checkpoint(old), as_checkpoint(bundle.get("checkpoint"))
    verify_checkpoint(old_cp, public_key)
    verify_checkpoint(new_cp, public_key)
    tenant, m, n = old_cp["tenant_id"], old_cp["tree_size"], new_cp["tree_size"]
    if tenant != new_cp["tenant_id"]:
        raise NotComparableError(
            f"the two checkpoints belong to different tenants ({tenant!r}, {new_cp['tenant_id']!r})"
        )
    if m > n:
        raise NotComparableError(f"the older checkpoint (size {m}) is larger than the newer one (size {n}): swap them")
    old_root, new_root = bytes.fromhex(old_cp["root_hash"]), bytes.fromhex(new_cp["root_hash"])
    proof = bundle.get("consistency")
    if m == n:
        ok = hmac.compare_digest(old_root, new_root)
    elif not isinstance(proof, Mapping) or proof.get("first") != m or proof.get("second") != n:
        have = f"from size {proof.get('first')!r}" if isinstance(proof, Mapping) else "no consistency proof"
        raise NotComparableError(
            f"the proof file has {have}, but your checkpoint has size {m}; get a matching one with "
            f"`llmteam audit checkpoint --tenant {tenant} --consistency-from {m}` and pass its output"
        )
    else:
        ok = verify_consistency(m, n, old_root, new_root, _hex_path(proof.get("path"), "consistency proof"))
    if not ok:
        raise VerificationError(
            f"the log of size {n} does not extend the checkpoint of size {m}: "
            "records were removed, reordered or changed"
        )


def _read_json(path: str) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: 0 verified, 1 verification failed (tampering or a bad input), 2 cannot be compared."""
    parser = argparse.ArgumentParser(
        prog="python -m llmteam.audit.verifier", description="Verify llmteam audit proofs offline."
    )
    parser.add_argument("--public-key", required=True, help="file with the base64 (or PEM) Ed25519 public key")
    parser.add_argument(
        "proof", help="JSON printed by `llmteam audit prove SEQ` or `llmteam audit checkpoint --tenant T`"
    )
    parser.add_argument(
        "old_checkpoint", nargs="?",
        help="an older checkpoint JSON (bare, or `llmteam audit checkpoint` output) the proof must extend; the proof "
        "needs a consistency proof from its size: `llmteam audit checkpoint --tenant T --consistency-from SIZE`",
    )
    args = parser.parse_args(argv)
    try:
        with open(args.public_key, "rb") as fh:
            public_key = load_public_key(fh.read())
        bundle = _read_json(args.proof)
        if not isinstance(bundle, Mapping):
            as_checkpoint(bundle)  # raises, naming what was given instead of an object
        env_key = os.environ.get(HMAC_ENV)
        hmac_key = env_key.encode() if env_key else None
        if "record" in bundle:
            verify_inclusion_bundle(bundle, public_key, hmac_key)
        else:
            verify_checkpoint(bundle, public_key)
            if "tenant_id" in bundle:  # a bare checkpoint: the "new" side of a comparison
                bundle = {"checkpoint": bundle}
        if args.old_checkpoint:
            verify_extends(_read_json(args.old_checkpoint), bundle, public_key)
    except NotComparableError as exc:
        sys.stderr.write(f"CANNOT CHECK: {exc}\n")
        return 2
    except (VerificationError, OSError, ValueError, RecursionError) as exc:
        sys.stderr.write(f"FAILED: {exc}\n")
        return 1
    sys.stdout.write("OK\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    raise SystemExit(main())
