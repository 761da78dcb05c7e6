"""SealedData: a value only its owner can read, which never leaves the object by repr, str, copy or pickle."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any, NoReturn

from llmteam.context._errors import SealedDataAccessError
from llmteam.context._validate import require_str

__all__ = ["SealedData", "same_id"]


def same_id(a: str, b: str) -> bool:
    """Constant-time equality of two ids; an empty id never matches (fail closed)."""
    return bool(a) and hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


class SealedData:
    """Holds ``_data`` privately; only ``get(owner_id)`` returns it.

    The value is not an attribute anyone can list: it sits in a private slot, ``repr``/``str`` redact it,
    ``copy``/``deepcopy`` return this same object and pickling raises TypeError. An empty owner or requester id
    never matches, so an unowned value is readable by no one.
    """

    __slots__ = ("__value", "_created_at", "_encryption_key_id", "_owner_id")

    def __init__(
        self,
        _data: Any,
        owner_id: str = "",
        encryption_key_id: str = "",
        created_at: datetime | None = None,
    ) -> None:
        self.__value = _data
        self._owner_id = require_str(owner_id, "owner_id")
        self._encryption_key_id = require_str(encryption_key_id, "encryption_key_id")
        if created_at is not None and not isinstance(created_at, datetime):
            raise TypeError(f"created_at must be a datetime, got {type(created_at).__name__} {created_at!r}")
        self._created_at = datetime.now() if created_at is None else created_at

    @property
    def owner_id(self) -> str:
        """The only id allowed to read the value (read-only)."""
        return self._owner_id

    @property
    def encryption_key_id(self) -> str:
        """An opaque label of the key the value was sealed under, if any (read-only)."""
        return self._encryption_key_id

    @property
    def created_at(self) -> datetime:
        """When the value was sealed (read-only)."""
        return self._created_at

    @property
    def _data(self) -> Any:
        """The raw value, for the owning context's internal use only."""
        return self.__value

    def is_owner(self, requester_id: str) -> bool:
        """True when ``requester_id`` is this value's (non-empty) owner."""
        return same_id(self._owner_id, require_str(requester_id, "requester_id"))

    def get(self, requester_id: str, field_name: str = "") -> Any:
        """Return the value to its owner; anyone else gets SealedDataAccessError (a PermissionError)."""
        if not self.is_owner(requester_id):
            raise SealedDataAccessError(self._owner_id, requester_id, field_name)
        return self.__value

    def __repr__(self) -> str:
        return f"SealedData(owner_id={self._owner_id!r}, [REDACTED])"

    def __str__(self) -> str:
        return "[SEALED]"

    def __format__(self, format_spec: str) -> str:
        return format("[SEALED]", format_spec)

    def __copy__(self) -> SealedData:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SealedData:
        return self

    def _refuse_pickle(self, *args: Any) -> NoReturn:
        raise TypeError(
            f"SealedData owned by {self._owner_id!r} cannot be pickled: sealed values never leave the process; "
            "export them explicitly with SecureAgentContext.to_dict(include_sealed=True, requester_id=<owner>)"
        )

    __reduce__ = _refuse_pickle
    __reduce_ex__ = _refuse_pickle
    __getstate__ = _refuse_pickle
