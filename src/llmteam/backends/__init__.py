"""Shared plumbing for store backends: URL parsing, identifier validation, SQLite and PostgreSQL access.

Every store module (tenancy, audit, ratelimit, ...) builds on these so that there is one way to open a
SQLite file (WAL, durable commits, one writer thread), one way to make an asyncpg pool (imported lazily),
one URL grammar (``memory://``, ``sqlite:///path``, ``postgresql://...``, ``redis://...``) and one
identifier rule for table names. Nothing here knows any llmteam model.
"""

from llmteam.backends.identifiers import IDENTIFIER_RE, validate_identifier
from llmteam.backends.url import StoreURL, StoreURLError, parse_store_url

__all__ = ["IDENTIFIER_RE", "StoreURL", "StoreURLError", "parse_store_url", "validate_identifier"]
