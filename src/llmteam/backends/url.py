"""Store URLs: the one place where memory, sqlite, postgresql and redis URLs are parsed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCHEMES = ("memory", "sqlite", "postgresql", "redis")
_ALIASES = {"postgres": "postgresql", "rediss": "redis"}


class StoreURLError(ValueError):
    """A store URL that cannot be used, with the reason and the accepted forms."""


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: ``scheme`` is canonical; ``path`` is the SQLite file; ``url`` is the original text."""

    scheme: str
    url: str
    path: str = ""

    @property
    def dsn(self) -> str:
        """The URL to hand to the server driver (asyncpg, redis-py)."""
        return self.url


_HELP = "use memory://, sqlite:///relative/or//absolute/path.db, postgresql://user@host/db or redis://host:6379/0"


def parse_store_url(url: str, *, allowed: tuple[str, ...] = SCHEMES) -> StoreURL:
    """Parse ``url`` into a :class:`StoreURL`, raising :class:`StoreURLError` naming the bad value."""
    if not isinstance(url, str) or not url.strip():
        raise StoreURLError(f"store URL {url!r} is empty; {_HELP}")
    text = url.strip()
    parts = urlsplit(text)
    scheme = _ALIASES.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in SCHEMES:
        raise StoreURLError(f"store URL {url!r} has unknown scheme {parts.scheme!r}; {_HELP}")
    if scheme not in allowed:
        raise StoreURLError(
            f"store URL {url!r}: scheme {scheme!r} is not supported here; use one of {', '.join(allowed)}"
        )
    if scheme == "memory":
        return StoreURL("memory", text)
    if scheme == "sqlite":
        # sqlite:///rel/path.db -> rel/path.db ; sqlite:////abs/path.db -> /abs/path.db ; sqlite:///:memory:
        if not text.lower().startswith("sqlite:///"):
            raise StoreURLError(f"store URL {url!r}: SQLite URLs have three slashes; {_HELP}")
        path = text[len("sqlite:///") :].split("?", 1)[0]
        if not path:
            raise StoreURLError(f"store URL {url!r} names no SQLite file; {_HELP}")
        return StoreURL("sqlite", text, path=path if path == ":memory:" else str(Path(path)))
    if not parts.hostname and not parts.path.strip("/") and scheme == "postgresql":
        raise StoreURLError(f"store URL {url!r} names no PostgreSQL server; {_HELP}")
    if scheme == "postgresql" and parts.scheme.lower() == "postgres":
        text = "postgresql" + text[len("postgres") :]
    return StoreURL(scheme, text)
