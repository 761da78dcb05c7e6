"""Store URLs: the one place where memory, sqlite, postgresql and redis URLs are parsed."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, urlsplit

from llmteam._exceptions import StoreURLError

__all__ = ["SCHEMES", "StoreURL", "StoreURLError", "add_scheme", "parse_store_url"]

SCHEMES = ("memory", "sqlite", "postgresql", "redis")
_ALIASES = {"postgres": "postgresql", "rediss": "redis"}
_EXTRA: set[str] = set()  # schemes that backends registered beyond the built-in four


def add_scheme(scheme: str) -> None:
    """Accept URLs with ``scheme`` (called by :func:`llmteam.backends.register_scheme`)."""
    if scheme not in SCHEMES:
        _EXTRA.add(scheme)


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: ``scheme`` is canonical; ``path`` is the SQLite file; ``url`` is the original text."""

    scheme: str
    url: str
    path: str = ""
    synchronous: str = ""  # SQLite only: ``?synchronous=NORMAL`` trades power-loss durability for speed

    @property
    def dsn(self) -> str:
        """The URL to hand to the server driver (asyncpg, redis-py)."""
        return self.url

    @property
    def identity(self) -> str:
        """What makes two URLs the same database: the absolute SQLite path, else the URL text."""
        if self.scheme == "sqlite" and self.path != ":memory:":
            return os.path.realpath(self.path)
        return self.url

    @property
    def redacted(self) -> str:
        """The URL with any password replaced, for messages and logs."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        return self.url.replace(f":{parts.password}@", ":***@", 1)


_HELP = "use memory://, sqlite:///relative/or//absolute/path.db, postgresql://user@host/db or redis://host:6379/0"


def parse_store_url(url: str, *, allowed: tuple[str, ...] = SCHEMES) -> StoreURL:
    """Parse ``url`` into a :class:`StoreURL`, raising :class:`StoreURLError` naming the bad value."""
    if not isinstance(url, str) or not url.strip():
        raise StoreURLError(f"store URL {url!r} is empty; {_HELP}")
    text = url.strip()
    parts = urlsplit(text)
    scheme = _ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in SCHEMES and scheme not in _EXTRA:
        raise StoreURLError(f"store URL {url!r} has unknown scheme {parts.scheme!r}; {_HELP}")
    if scheme not in allowed:
        raise StoreURLError(
            f"store URL {url!r}: scheme {scheme!r} is not supported here; use one of {', '.join(allowed)}"
        )
    if scheme == "memory" or scheme in _EXTRA:
        return StoreURL(scheme, text)
    if scheme == "sqlite":
        # sqlite:///rel/path.db -> rel/path.db ; sqlite:////abs/path.db -> /abs/path.db ; sqlite:///:memory:
        if not text.lower().startswith("sqlite:///"):
            raise StoreURLError(f"store URL {url!r}: SQLite URLs have three slashes; {_HELP}")
        path = text[len("sqlite:///") :].split("?", 1)[0]
        if not path:
            raise StoreURLError(f"store URL {url!r} names no SQLite file; {_HELP}")
        sync = ""
        for key, value in parse_qsl(parts.query, keep_blank_values=True):  # "?synchronous=" is an error too
            if key != "synchronous" or value.upper() not in ("FULL", "NORMAL"):
                raise StoreURLError(
                    f"store URL {url!r}: unknown SQLite option {key}={value!r}; "
                    "only synchronous=FULL or synchronous=NORMAL is accepted"
                )
            sync = value.upper()
        return StoreURL("sqlite", text, path=path if path == ":memory:" else str(Path(path)), synchronous=sync)
    if not parts.hostname and not parts.path.strip("/") and scheme == "postgresql":
        raise StoreURLError(f"store URL {url!r} names no PostgreSQL server; {_HELP}")
    if scheme == "redis":
        _check_redis(parts, text)
    if scheme == "postgresql" and parts.scheme.lower() == "postgres":
        text = "postgresql" + text[len("postgres") :]
    return StoreURL(scheme, text)


def _check_redis(parts: SplitResult, text: str) -> None:
    """Refuse a Redis URL whose port or database is not a number (redis-py would quietly use database 0)."""
    shown = StoreURL("redis", text).redacted
    try:
        parts.port  # noqa: B018 - reading it validates it
    except ValueError:
        raise StoreURLError(f"store URL {shown!r}: the port is not a number in 0-65535; {_HELP}") from None
    db = parts.path.strip("/")
    if db and not (db.isascii() and db.isdigit()):
        raise StoreURLError(
            f"store URL {shown!r}: the database {db!r} is not a number; name it by its index, as in "
            "redis://host:6379/0"
        )
