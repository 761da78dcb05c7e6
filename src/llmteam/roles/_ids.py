"""Cheap unique event ids in UUID-4 text form: a random 80-bit prefix per generator plus a counter."""

from __future__ import annotations

import itertools
import uuid


class EventIds:
    """Callable producing distinct UUID-formatted ids without paying for ``uuid4()`` on every event."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._reseed()

    def _reseed(self) -> None:
        text = str(uuid.uuid4())
        self._prefix = text[:24]  # "xxxxxxxx-xxxx-4xxx-yxxx-": version and variant bits stay valid
        self._counter = itertools.count()

    def __call__(self) -> str:
        n = next(self._counter)
        if n >= 0xFFFFFFFFFFFF:  # pragma: no cover - 2**48 ids from one generator
            self._reseed()
            n = next(self._counter)
        return f"{self._prefix}{n:012x}"
