"""ISO text of times that arrive in order, many a second: the audit trail's record times, the orchestrator's history.

``datetime.isoformat()`` formats every field each call; a function from :func:`iso_text` keeps the text up to the
second from the previous call in that second and adds only the microseconds. tests/test_llmteam_isotime.py,
tests/audit/test_audit_record.py and tests/roles/test_roles_pipeline.py compare it with ``isoformat()`` on any time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

__all__ = ["iso_text"]

_UTC = timezone.utc
_SECOND = timedelta(seconds=1)
_LAST_SECOND = datetime.max.replace(microsecond=0)  # naive; its second has no end representable after it
_DIGITS3 = tuple(f"{i:03d}" for i in range(1000))  # microseconds joined from two ready strings: no printf


def iso_text() -> Callable[[datetime], str]:
    """A function giving ``ts.isoformat()`` for naive and UTC times, from the text of the second its last call was in.

    Any other time zone, and a subclass of datetime, go to ``isoformat()`` itself. One function per stream of times
    (a stream alternating between two seconds would format each time anew). The kept second is one tuple, read and
    replaced whole, so threads never see one second's start with another's text.
    """
    # [start, end) of the kept second (None: none yet), its text without fraction or offset, and its offset
    second: tuple[datetime | None, datetime, str, str] = (None, datetime.max, "", "")

    def isoformat(ts: datetime) -> str:
        nonlocal second
        tz = ts.tzinfo
        if type(ts) is not datetime or (tz is not None and tz is not _UTC):
            return ts.isoformat()
        start, end, text, offset = second
        if start is None or start.tzinfo is not tz or not start <= ts < end:
            start = ts.replace(microsecond=0)
            text = start.isoformat()
            offset = ""
            if tz is not None:
                text, offset = text[:-6], "+00:00"
            last = start.replace(tzinfo=None) >= _LAST_SECOND
            second = (start, start if last else start + _SECOND, text, offset)  # the last second: never kept
        micro = ts.microsecond
        return f"{text}.{_DIGITS3[micro // 1000]}{_DIGITS3[micro % 1000]}{offset}" if micro else text + offset

    return isoformat
