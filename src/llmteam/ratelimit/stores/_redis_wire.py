"""The Redis wire format of the rate-limit scripts: packed once per limit, so a decision only adds its permit ids."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

from llmteam._repr import bounded_repr
from llmteam.backends.redis import RedisReply

from .._errors import RateLimitBackendError


def lua(name: str) -> str:
    """The text of resource script ``lua/<name>``."""
    return resources.files("llmteam.ratelimit").joinpath("lua").joinpath(name).read_text(encoding="utf-8")


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for error messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def bulk(text: str | bytes) -> bytes:
    """``text`` (bytes as they are, text in UTF-8) as one RESP bulk string."""
    data = text if isinstance(text, bytes) else text.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class ScriptCall:
    """An EVALSHA of resource script ``script`` with its keys and leading arguments packed once."""

    __slots__ = ("count", "fixed", "script")

    def __init__(self, script: str, keys: Sequence[str], args: Sequence[str | bytes] = ()) -> None:
        self.script = script
        parts = [str(len(keys)), *keys, *args]
        self.fixed = b"".join(bulk(part) for part in parts)
        self.count = 2 + len(parts)  # EVALSHA and the SHA1 come first


def reply_text(reply: RedisReply, what: str) -> str:
    """A bulk-string reply as text; anything else is a :class:`RateLimitBackendError` naming ``what`` was sent."""
    if isinstance(reply, bytes):
        return reply.decode()
    raise RateLimitBackendError(
        f"Redis answered {what} with {bounded_repr(reply, 200)}, expected a string (is it a Redis server?)"
    )


def reply_items(reply: RedisReply, count: int, what: str) -> Sequence[RedisReply]:
    """An array reply of ``count`` items; anything else is a :class:`RateLimitBackendError` naming ``what``."""
    if isinstance(reply, Sequence) and not isinstance(reply, bytes) and len(reply) == count:
        return reply
    raise RateLimitBackendError(f"Redis answered {what} with {bounded_repr(reply, 200)}, expected {count} items")


def reply_numbers(reply: RedisReply, count: int, what: str) -> list[float]:
    """A status reply of ``count`` space-separated numbers; anything else is a :class:`RateLimitBackendError`
    naming ``what`` was sent."""
    try:
        numbers = [float(field) for field in reply.split()] if isinstance(reply, bytes) else []
    except ValueError:
        numbers = []
    if len(numbers) == count:
        return numbers
    raise RateLimitBackendError(
        f"Redis answered {what} with {bounded_repr(reply, 200)}, expected {count} numbers (is it a Redis server?)"
    )
