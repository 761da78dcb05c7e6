"""Cheap unique event ids in UUID-4 text form: a random 80-bit prefix per batch plus a 48-bit counter."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

_COUNTER_END = 0xFFFFFFFFFFFF  # 12 hex digits: a fresh random prefix before the counter would need a 13th
_HEX3 = tuple(f"{i:03x}" for i in range(0x1000))  # the counter is four of these, most significant first


def _batch(_: object = None) -> Iterator[str]:
    """Ids sharing one fresh random prefix: ``xxxxxxxx-xxxx-4xxx-yxxx-`` then a 12-digit hex counter.

    The counter's digits come from the cartesian product of four 3-digit tables, which enumerates 000000000000,
    000000000001, ... in order like ``f"{n:012x}"`` but joins four ready strings instead of formatting an int
    (about three times quicker per id).
    """
    prefix = str(uuid.uuid4())[:24]  # version and variant bits stay valid
    counters = itertools.product((prefix,), _HEX3, _HEX3, _HEX3, _HEX3)
    return itertools.islice(map("".join, counters), _COUNTER_END)


class EventIds:
    """Callable producing distinct UUID-formatted ids without paying for ``uuid4()`` on every event.

    ``next_id`` is the same generator as a C-level callable (no Python frame per id) for hot loops.
    """

    __slots__ = ("_ids", "next_id")

    def __init__(self) -> None:
        self._ids: Iterator[str] = itertools.chain.from_iterable(map(_batch, itertools.repeat(None)))
        self.next_id = self._ids.__next__

    def __call__(self) -> str:
        return next(self._ids)
