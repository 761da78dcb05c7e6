"""The SQL the SQLite and PostgreSQL key stores share: the ``api_keys`` table, its statements and row codec."""

from __future__ import annotations

from typing import Any

from llmteam.server._keys import ApiKey


def row_to_key(row: Any) -> ApiKey:
    """A stored row (key_id, tenant_id, digest, scopes, admin, created_at, expires_at, revoked_at, name, created_by)."""
    scopes = frozenset(s for s in str(row[3]).split(",") if s)
    return ApiKey(str(row[0]), str(row[1]), str(row[2]), scopes, bool(row[4]), float(row[5]),
                  None if row[6] is None else float(row[6]), None if row[7] is None else float(row[7]),
                  str(row[8]), str(row[9]))


def key_to_row(key: ApiKey) -> tuple[Any, ...]:
    """The row ``row_to_key`` reads back."""
    return (key.key_id, key.tenant_id, key.digest, ",".join(sorted(key.scopes)), int(key.admin), key.created_at,
            key.expires_at, key.revoked_at, key.name, key.created_by)


# Whole statements per placeholder style (qmark: SQLite, dollar: PostgreSQL); no value is ever interpolated.
SQL = {
    "qmark": {
        "insert": "INSERT INTO api_keys (key_id, tenant_id, digest, scopes, admin, created_at, expires_at, "
                  "revoked_at, name, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        "get": "SELECT key_id, tenant_id, digest, scopes, admin, created_at, expires_at, revoked_at, name, "
               "created_by FROM api_keys WHERE key_id = ?",
        "list": "SELECT key_id, tenant_id, digest, scopes, admin, created_at, expires_at, revoked_at, name, "
                "created_by FROM api_keys WHERE (? IS NULL OR tenant_id = ?) ORDER BY created_at, key_id",
        "revoke": "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
    },
    "dollar": {
        "insert": "INSERT INTO api_keys (key_id, tenant_id, digest, scopes, admin, created_at, expires_at, "
                  "revoked_at, name, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        "get": "SELECT key_id, tenant_id, digest, scopes, admin, created_at, expires_at, revoked_at, name, "
               "created_by FROM api_keys WHERE key_id = $1",
        "list": "SELECT key_id, tenant_id, digest, scopes, admin, created_at, expires_at, revoked_at, name, "
                "created_by FROM api_keys WHERE ($1::text IS NULL OR tenant_id = $1) ORDER BY created_at, key_id",
        "revoke": "UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL",
    },
}


def ddl(real: str) -> list[str]:
    """The ``api_keys`` table (``real`` is the float type of the dialect)."""
    return [
        "CREATE TABLE IF NOT EXISTS api_keys (key_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, digest TEXT NOT NULL, "
        f"scopes TEXT NOT NULL, admin INTEGER NOT NULL, created_at {real} NOT NULL, expires_at {real}, "
        f"revoked_at {real}, name TEXT NOT NULL, created_by TEXT NOT NULL)",
        "CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id, created_at)",
    ]
