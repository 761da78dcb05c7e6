"""A store mixin for tests: it overrides ``append`` and ``append_many`` to note every record a trail appends."""

from __future__ import annotations

from typing import Any


class SeeingAppends:
    """Put first in the bases of an audit store class: ``seen`` lists the sequence numbers of every record that
    reached ``append`` or ``append_many``, which then store it as the base class does."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.seen: list[int] = []

    async def append(self, record: Any) -> None:
        self.seen.append(record.sequence_number)
        await super().append(record)  # type: ignore[misc]

    async def append_many(self, records: list[Any]) -> None:
        self.seen.extend(r.sequence_number for r in records)
        await super().append_many(records)  # type: ignore[misc]
