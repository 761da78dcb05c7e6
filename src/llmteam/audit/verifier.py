"""Standalone verifier for llmteam audit data: record checksums, Merkle proofs and signed checkpoints.

This file imports only the standard library and, for signatures, ``cryptography``; copy it anywhere and run
``python verifier.py --public-key KEY.pub proof.json [old-checkpoint.json]`` to check, offline and with nothing
but the deployment's public key, that a record is intact, that it is included in the tree a signed checkpoint
commits to (RFC 6962 / RFC 9162 hashing: leaf = SHA-256(0x00 || checksum), node = SHA-256(0x01 || l || r)),
and that one checkpoint extends another (a consistency proof). llmteam.audit builds its proofs with these
same functions, so there is one definition of every hash.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CHECKPOINT_DOMAIN",
    "VerificationError",
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

CHECKPOINT_DOMAIN = b"llmteam-audit-checkpoint/v1\n"
HMAC_ENV = "LLMTEAM_AUDIT_HMAC_KEY"


class VerificationError(Exception):
    """A record, proof or checkpoint did not verify."""


def canonical_record_json(record: Mapping[str, Any]) -> str:
    """The canonical text a record checksum covers: every field of ``to_dict()`` except ``checksum``."""
    body = {k: v for k, v in record.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


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


def checkpoint_message(tenant_id: str, tree_size: int, root_hash_hex: str, issued_at: str) -> bytes:
    """The exact bytes an audit checkpoint signature covers."""
    return CHECKPOINT_DOMAIN + f"{tenant_id}\n{int(tree_size)}\n{root_hash_hex}\n{issued_at}\n".encode()


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


def verify_checkpoint(checkpoint: Mapping[str, Any], public_key: bytes) -> None:
    """Raise :class:`VerificationError` unless ``checkpoint`` is signed by ``public_key`` (raw 32 bytes)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        msg = checkpoint_message(
            str(checkpoint["tenant_id"]), int(checkpoint["tree_size"]), str(checkpoint["root_hash"]),
            str(checkpoint.get("issued_at", "")),
        )
        sig = base64.b64decode(str(checkpoint["signature"]))
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, msg)
    except (KeyError, ValueError, TypeError) as exc:
        raise VerificationError(f"malformed checkpoint: {exc}") from exc
    except InvalidSignature as exc:
        raise VerificationError(
            f"checkpoint for tenant {checkpoint.get('tenant_id')!r} size {checkpoint.get('tree_size')!r} "
            "is not signed by the given public key"
        ) from exc


def verify_inclusion_bundle(bundle: Mapping[str, Any], public_key: bytes, hmac_key: bytes | None = None) -> None:
    """Check an inclusion-proof bundle (as printed by ``llmteam audit prove``) end to end; raise on failure."""
    try:
        record, cp = bundle["record"], bundle["checkpoint"]
        path = [bytes.fromhex(h) for h in bundle["path"]]
        index, size = int(bundle["leaf_index"]), int(bundle["tree_size"])
    except (KeyError, ValueError, TypeError) as exc:
        raise VerificationError(f"malformed inclusion proof: {exc}") from exc
    verify_checkpoint(cp, public_key)
    verify_record(record, hmac_key)
    if record.get("tenant_id") != cp["tenant_id"] or size != int(cp["tree_size"]):
        raise VerificationError("the proof's record, tree size and checkpoint do not belong together")
    if index != int(record.get("sequence_number", 0)) - 1:
        raise VerificationError(f"leaf index {index} does not match sequence {record.get('sequence_number')!r}")
    if not verify_inclusion(index, size, leaf_hash(record["checksum"]), path, bytes.fromhex(cp["root_hash"])):
        raise VerificationError(
            f"record sequence {record.get('sequence_number')!r} is not in the tree of size {size} the checkpoint signs"
        )


def _verify_consistency_bundle(old: Mapping[str, Any], bundle: Mapping[str, Any], public_key: bytes) -> None:
    new = bundle["checkpoint"]
    verify_checkpoint(old, public_key)
    verify_checkpoint(new, public_key)
    if old["tenant_id"] != new["tenant_id"]:
        raise VerificationError("the two checkpoints belong to different tenants")
    proof = bundle.get("consistency") or {}
    path = [bytes.fromhex(h) for h in proof.get("path", [])]
    if int(proof.get("first", -1)) != int(old["tree_size"]) or not verify_consistency(
        int(old["tree_size"]), int(new["tree_size"]), bytes.fromhex(old["root_hash"]),
        bytes.fromhex(new["root_hash"]), path,
    ):
        raise VerificationError(
            f"the log of size {new['tree_size']} does not extend the checkpoint of size {old['tree_size']}: "
            "records were removed, reordered or changed"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry: verify a proof bundle (and optionally consistency with an older checkpoint)."""
    parser = argparse.ArgumentParser(description="Verify llmteam audit proofs offline.")
    parser.add_argument("--public-key", required=True, help="file with the base64 (or PEM) Ed25519 public key")
    parser.add_argument("proof", help="JSON from `llmteam audit prove` (or `checkpoint --consistency-from`)")
    parser.add_argument("old_checkpoint", nargs="?", help="an older checkpoint JSON the proof must extend")
    args = parser.parse_args(argv)
    try:
        with open(args.public_key, "rb") as fh:
            public_key = load_public_key(fh.read())
        with open(args.proof, encoding="utf-8") as fh:
            bundle = json.load(fh)
        env_key = os.environ.get(HMAC_ENV)
        hmac_key = env_key.encode() if env_key else None
        if "record" in bundle:
            verify_inclusion_bundle(bundle, public_key, hmac_key)
        else:
            verify_checkpoint(bundle["checkpoint"], public_key)
        if args.old_checkpoint:
            with open(args.old_checkpoint, encoding="utf-8") as fh:
                _verify_consistency_bundle(json.load(fh), bundle, public_key)
    except (VerificationError, OSError, ValueError, KeyError) as exc:
        sys.stderr.write(f"FAILED: {exc}\n")
        return 1
    sys.stdout.write("OK\n")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through a subprocess test
    raise SystemExit(main())
