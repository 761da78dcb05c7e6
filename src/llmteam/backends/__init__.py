"""One backend per URL, opened through one scheme registry; the ground floor every store builds on.

A **backend** owns what a database needs in one process and is shared by every store on its URL:

- :class:`SQLiteBackend` (``sqlite:///path.db``): the file's one writer thread, one write connection and
  the readers (WAL; ``synchronous=FULL`` unless every opener of the file asked for ``?synchronous=normal``:
  durable against a process crash, not a power loss);
- :class:`PostgresBackend` (``postgresql://...``): one asyncpg pool, created once at first use; stores query
  it as a ``llmteam.backends.postgres.PgPool`` (a Protocol of the asyncpg calls they make), never ``Any``;
- :class:`RedisBackend` (``redis://...``): one ``redis.asyncio`` client;
- :class:`MemoryBackend` (``memory://``): nothing; the stores keep their own state.

:func:`open_backend` returns the process's shared backend for a URL with a reference taken; each holder
calls ``await backend.release()`` and the last one closes it. A new database is one ``Backend`` subclass with
``@register_scheme("name")`` and an ``aclose()``; its stores then subclass each store kind's base class
(``llmteam.audit.AuditStore``, ``llmteam.tenancy.TenantStore``, ...) in ``<module>/stores/_name.py``.
Nothing here knows any llmteam model or imports another llmteam module (but ``_exceptions``).
"""

from llmteam._exceptions import StoreURLError
from llmteam.backends._base import Backend, backend_of, open_backend, register_scheme, registered_schemes
from llmteam.backends._open import open_store
from llmteam.backends.identifiers import IDENTIFIER_RE, validate_identifier
from llmteam.backends.memory import MemoryBackend
from llmteam.backends.postgres import PostgresBackend
from llmteam.backends.redis import RedisBackend
from llmteam.backends.sqlite import SQLiteBackend, SQLiteDatabase, open_sqlite
from llmteam.backends.url import StoreURL, parse_store_url

__all__ = [
    "IDENTIFIER_RE",
    "Backend",
    "MemoryBackend",
    "PostgresBackend",
    "RedisBackend",
    "SQLiteBackend",
    "SQLiteDatabase",
    "StoreURL",
    "StoreURLError",
    "backend_of",
    "open_backend",
    "open_sqlite",
    "open_store",
    "parse_store_url",
    "register_scheme",
    "registered_schemes",
    "validate_identifier",
]
