"""SecureAgentContext: an agent's working state, shown to each viewer only as far as its policy allows."""

from __future__ import annotations

import copy
import dataclasses
import reprlib
from collections.abc import Container
from dataclasses import KW_ONLY, InitVar, dataclass, field
from datetime import datetime
from typing import Any

from llmteam._owned import own
from llmteam._repr import bounded_repr
from llmteam.audit import AuditEventType, AuditSeverity
from llmteam.context._audit_hook import AuditEmitter
from llmteam.context._audited import AuditedContext
from llmteam.context._errors import SealedDataAccessError
from llmteam.context._levels import SensitivityLevel
from llmteam.context._policy import ContextAccessPolicy, ContextAccessResult
from llmteam.context._sealed import SealedData, same_id
from llmteam.context._validate import require_enum, require_id, require_number, require_str, to_set

__all__ = ["SecureAgentContext", "copied", "copy_entries", "create_secure_context"]

_DETAILED = frozenset({SensitivityLevel.PUBLIC, SensitivityLevel.INTERNAL})
_LISTS = ("reasoning_steps", "sources", "messages")


@dataclass
class SecureAgentContext(AuditedContext):
    """An agent's state (status, confidence, reasoning, data) plus sealed values only the agent itself can read.

    Viewers get ``get_visible_context(viewer_id, role)``, filtered by ``access_policy``; sealed values live in
    private storage that no field, repr, copy, pickle or export without the owner ever reveals.
    """

    agent_id: str
    agent_name: str
    confidence: float = 0.0
    status: str = "idle"
    error_count: int = 0
    last_action: str = ""
    reasoning_steps: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    access_policy: ContextAccessPolicy = field(default_factory=ContextAccessPolicy)
    created_at: datetime = field(default_factory=datetime.now)
    updated_at: datetime = field(default_factory=datetime.now)
    _: KW_ONLY
    _audit_trail: InitVar[Any] = None

    #: reasoning_steps, sources and messages keep at most this many entries (the oldest are dropped).
    MAX_HISTORY = 10_000

    def __post_init__(self, _audit_trail: Any) -> None:
        require_id(self.agent_id, "agent_id")
        require_str(self.agent_name, "agent_name")
        self.confidence = require_number(self.confidence, "confidence")
        require_str(self.status, "status")
        if isinstance(self.error_count, bool) or not isinstance(self.error_count, int):
            raise TypeError(f"error_count must be an int, got {self.error_count!r}")
        require_str(self.last_action, "last_action")
        for name in _LISTS:
            if not isinstance(getattr(self, name), list):
                raise TypeError(f"{name} must be a list, got {getattr(self, name)!r}")
        if not isinstance(self.data, dict):
            raise TypeError(f"data must be a dict, got {type(self.data).__name__} {self.data!r}")
        if not isinstance(self.access_policy, ContextAccessPolicy):
            raise TypeError(f"access_policy must be a ContextAccessPolicy, got {self.access_policy!r}")
        for name in ("created_at", "updated_at"):
            if not isinstance(getattr(self, name), datetime):
                raise TypeError(f"{name} must be a datetime, got {getattr(self, name)!r}")
        self._sealed: dict[str, SealedData] = {}
        self._auditor = None if _audit_trail is None else AuditEmitter(_audit_trail)

    # --- sealed values -------------------------------------------------------------------------------------

    def set_sealed(self, key: str, value: Any, encrypt: bool = False) -> None:
        """Seal ``value`` under ``key``: only this agent can read it back, and ``key`` becomes a sealed field."""
        require_str(key, "sealed key")
        if not isinstance(encrypt, bool):
            raise TypeError(f"encrypt must be a bool, got {encrypt!r}")
        self._sealed[key] = SealedData(value, owner_id=self.agent_id)
        self.access_policy.seal_field(key)
        self.updated_at = datetime.now()

    def get_sealed(self, key: str, requester_id: str) -> Any:
        """Return the sealed value to its owner; KeyError if missing, SealedDataAccessError for anyone else."""
        require_str(requester_id, "requester_id")
        sealed = self._sealed.get(require_str(key, "sealed key"))
        if sealed is None:
            raise KeyError(f"no sealed value {key!r} in the context of agent {self.agent_id!r}")
        audited = self._auditor is not None and self.access_policy.audit_access
        if not sealed.is_owner(requester_id):
            error = SealedDataAccessError(sealed.owner_id, requester_id, key)
            if audited:
                self._audit_denied(
                    requester_id, "", "get_sealed", "sealed_field", key, error.message, owner_id=sealed.owner_id
                )
            raise error
        if audited:
            self._require_audit_room(f"sealed read of {key!r}")
            self._audit(
                AuditEventType.SEALED_DATA_ACCESSED,
                AuditSeverity.INFO,
                requester_id,
                "",
                "get_sealed",
                "sealed_field",
                key,
                required=True,
                owner_id=sealed.owner_id,
            )
        return sealed._data

    def has_sealed(self, key: str) -> bool:
        """True if a sealed value is stored under ``key``."""
        return key in self._sealed

    def list_sealed_keys(self) -> list[str]:
        """The names (never the values) of the sealed entries."""
        return list(self._sealed)

    def delete_sealed(self, key: str, requester_id: str) -> None:
        """Owner only: remove the sealed value and unseal its field; a no-op when ``key`` is not sealed."""
        require_str(requester_id, "requester_id")
        sealed = self._sealed.get(require_str(key, "sealed key"))
        if sealed is None:
            return
        if not sealed.is_owner(requester_id):
            error = SealedDataAccessError(sealed.owner_id, requester_id, key)
            if self._auditor is not None and self.access_policy.audit_access:
                self._audit_denied(
                    requester_id, "", "delete_sealed", "sealed_field", key, error.message, owner_id=sealed.owner_id
                )
            raise error
        del self._sealed[key]
        self.access_policy.unseal_field(key)
        self.updated_at = datetime.now()

    # --- views ---------------------------------------------------------------------------------------------

    def get_visible_context(self, viewer_id: str, viewer_role: str) -> dict[str, Any]:
        """What this viewer may see: a denial record, or the state filtered by sensitivity, never sealed values."""
        policy = self.access_policy
        allowed, reason = policy.can_access(viewer_id, viewer_role)
        if self._auditor is not None and policy.audit_access:
            self._audit_check(viewer_id, viewer_role, allowed, reason, "view_context")
        if not allowed:
            return {"agent_id": self.agent_id, "agent_name": self.agent_name, "access": "denied", "reason": reason}
        visible: dict[str, Any] = {
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "status": self.status,
            "confidence": self.confidence,
            "error_count": self.error_count,
            "last_action": self.last_action,
            "updated_at": self.updated_at.isoformat(),
        }
        if policy.sensitivity in _DETAILED:
            visible["reasoning_steps"] = list(self.reasoning_steps)
            visible["sources"] = list(self.sources)
        sealed_names = self._sealed_names()
        if self.data:
            data = copy_entries(self.data, sealed_names)
            if data:
                visible["data"] = data
        visible["sealed_fields"] = sorted(sealed_names, key=str)
        return visible

    def check_access(self, viewer_id: str, viewer_role: str, fields: set[str] | None = None) -> ContextAccessResult:
        """Delegate to the policy's field-by-field check (audited when the policy asks for it)."""
        result = self.access_policy.check_access(viewer_id, viewer_role, fields)
        if self._auditor is not None and self.access_policy.audit_access:
            self._audit_check(viewer_id, viewer_role, result.allowed, result.reason, "check_access")
        return result

    def to_dict(self, include_sealed: bool = False, requester_id: str | None = None) -> dict[str, Any]:
        """Serialise the context; sealed values only with ``include_sealed`` for the owner (``requester_id``).

        Each sealed value is exported only to its own owner (SealedDataAccessError naming the owner otherwise).
        An export with sealed values is recorded (DATA_EXPORTED) or refused: ``AuditBacklogError`` when too many
        sealed-data events still wait for an event loop to be recorded (``await flush_audit()`` first).
        """
        if not isinstance(include_sealed, bool):
            raise TypeError(f"include_sealed must be a bool, got {include_sealed!r}")
        if requester_id is not None and not same_id(self.agent_id, require_str(requester_id, "requester_id")):
            error = SealedDataAccessError(self.agent_id, requester_id)
            if self._auditor is not None and (include_sealed or self.access_policy.audit_access):
                self._audit_denied(requester_id, "", "export_context", "agent_context", self.agent_id, error.message)
            raise error
        sealed_values = self._sealed_export(requester_id) if include_sealed else {}
        policy = self.access_policy
        sealed_names = self._sealed_names()
        result: dict[str, Any] = {
            "agent_id": self.agent_id,
            "agent_name": self.agent_name,
            "confidence": self.confidence,
            "status": self.status,
            "error_count": self.error_count,
            "last_action": self.last_action,
            "reasoning_steps": list(self.reasoning_steps),
            "sources": list(self.sources),
            "messages": copied(self.messages, "messages"),
            "data": copy_entries(self.data, sealed_names),
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "access_policy": {
                "default_visibility": policy.default_visibility.value,
                "sensitivity": policy.sensitivity.value,
                "sealed_fields": sorted(policy.sealed_fields, key=str),
                "audit_access": policy.audit_access,
            },
        }
        if include_sealed:
            result["_sealed"] = sealed_values
            if self._auditor is not None:
                self._audit(
                    AuditEventType.DATA_EXPORTED,
                    AuditSeverity.WARNING,
                    requester_id or self.agent_id,
                    "",
                    "export_sealed",
                    "agent_context",
                    self.agent_id,
                    required=True,
                    sealed_keys=sorted(sealed_values),
                    owner_id=requester_id,
                )
        return result

    def _sealed_export(self, requester_id: str | None) -> dict[str, Any]:
        """Every sealed value, each through its own owner check (as get_sealed does), or an error and nothing.

        The owner is asked of each SealedData, never taken from ``agent_id``: that field is assignable, so a
        context (or a copy of it) renamed to another agent still holds values only their owner can export.
        """
        if requester_id is None:
            error = SealedDataAccessError(self.agent_id, "", message=(
                f"to_dict(include_sealed=True) needs requester_id={self.agent_id!r}: only the owning agent may "
                "export sealed values, and an anonymous export cannot be attributed"
            ))
            if self._auditor is not None:
                self._audit_denied("anonymous", "", "export_sealed", "agent_context", self.agent_id, error.message)
            raise error
        values: dict[str, Any] = {}
        for key, sealed in self._sealed.items():
            try:
                values[key] = sealed.get(requester_id, key)
            except SealedDataAccessError as error:
                if self._auditor is not None:
                    self._audit_denied(
                        requester_id, "", "export_sealed", "sealed_field", key, error.message, owner_id=sealed.owner_id
                    )
                raise
        self._require_audit_room(f"sealed export of {self.agent_id!r}")
        return values

    # --- policy delegates and mutators ---------------------------------------------------------------------

    def deny_access_to(self, viewer_id: str) -> None:
        """Deny this viewer (see ContextAccessPolicy.deny_access_to)."""
        self.access_policy.deny_access_to(viewer_id)

    def allow_access_to(self, viewer_id: str) -> None:
        """Allow this viewer over a denial (see ContextAccessPolicy.allow_access_to)."""
        self.access_policy.allow_access_to(viewer_id)

    def set_sensitivity(self, level: SensitivityLevel) -> None:
        """Change the context's sensitivity."""
        self.access_policy.set_sensitivity(require_enum(level, SensitivityLevel, "sensitivity"))

    def update_status(self, status: str) -> None:
        """Set the status string (e.g. idle, running, completed, error, failed)."""
        self.status = require_str(status, "status")
        self.updated_at = datetime.now()

    def update_confidence(self, confidence: float) -> None:
        """Set the confidence, clamped to [0.0, 1.0]."""
        self.confidence = min(1.0, max(0.0, require_number(confidence, "confidence")))
        self.updated_at = datetime.now()

    def add_reasoning_step(self, step: str) -> None:
        """Append a reasoning step (bounded by MAX_HISTORY)."""
        self._append(self.reasoning_steps, require_str(step, "reasoning step"))

    def add_source(self, source: str) -> None:
        """Append a source reference (bounded by MAX_HISTORY)."""
        self._append(self.sources, require_str(source, "source"))

    def add_message(self, message: dict[str, Any]) -> None:
        """Append a message dict (bounded by MAX_HISTORY)."""
        if not isinstance(message, dict):
            raise TypeError(f"message must be a dict, got {type(message).__name__} {message!r}")
        self._append(self.messages, message)

    def increment_error_count(self) -> None:
        """Count one more error."""
        self.error_count += 1
        self.updated_at = datetime.now()

    def set_data(self, key: str, value: Any) -> None:
        """Store a non-sealed data entry (a key named in sealed_fields is still hidden from every view)."""
        self.data[require_str(key, "data key")] = value
        self.updated_at = datetime.now()

    def get_data(self, key: str, default: Any = None) -> Any:
        """Read a non-sealed data entry."""
        return self.data.get(key, default)

    # --- internals -----------------------------------------------------------------------------------------

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        """The dataclass repr, except that a data entry under a sealed name shows as '[SEALED]'."""
        hidden = set(getattr(self.access_policy, "sealed_fields", ())) | set(getattr(self, "_sealed", ()))
        data = {k: "[SEALED]" if k in hidden else v for k, v in self.data.items()}
        shown = (f"{f.name}={data if f.name == 'data' else getattr(self, f.name)!r}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({', '.join(shown)})"

    def __copy__(self) -> SecureAgentContext:
        """A shallow copy with its own sealed store and access policy (the SealedData objects stay shared).

        Sealing or deleting a value in one copy never changes what the other holds or hides.
        """
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._sealed = dict(self._sealed)
        clone.access_policy = copy.deepcopy(self.access_policy)
        return clone

    def _append(self, target: list[Any], item: Any) -> None:
        target.append(item)
        if len(target) > self.MAX_HISTORY:
            del target[: len(target) - self.MAX_HISTORY]
        self.updated_at = datetime.now()

    def _sealed_names(self) -> set[str] | frozenset[str]:
        names = self.access_policy.sealed_fields
        return names | self._sealed.keys() if self._sealed else names


def copied(value: Any, what: str) -> Any:
    """``value`` itself when immutable, else a deep copy (tenancy's ``own``): a view or export never aliases it."""
    try:
        return own(value)
    except Exception as err:
        raise _uncopyable(what, value, err) from None


def copy_entries(data: dict[str, Any], hidden: Container[str] = ()) -> dict[str, Any]:
    """The entries of ``data`` whose key is not in ``hidden``, each one ``copied``."""
    entries: dict[str, Any] = {}
    for key, value in data.items():
        if key not in hidden:
            try:
                entries[key] = own(value)
            except Exception as err:
                raise _uncopyable(f"data entry {bounded_repr(key)}", value, err) from None
    return entries


def _uncopyable(what: str, value: Any, err: Exception) -> TypeError:
    # handing out the agent's own object instead would let the viewer change the agent's state
    return TypeError(
        f"{what} holds a {type(value).__name__} that cannot be copied ({bounded_repr(str(err))}); views and "
        "exports hand out copies, never the agent's own objects: store plain data (dicts, lists, strings, "
        "numbers) there"
    )


def create_secure_context(
    agent_id: str,
    agent_name: str,
    sensitivity: SensitivityLevel = SensitivityLevel.INTERNAL,
    sealed_fields: set[str] | None = None,
    audit_access: bool = False,
    audit_trail: Any = None,
) -> SecureAgentContext:
    """Build a SecureAgentContext whose policy has this sensitivity, these pre-sealed field names and auditing."""
    policy = ContextAccessPolicy(
        sensitivity=sensitivity,
        sealed_fields=set() if sealed_fields is None else set(to_set(sealed_fields, "sealed_fields")),
        audit_access=audit_access,
    )
    return SecureAgentContext(agent_id, agent_name, access_policy=policy, _audit_trail=audit_trail)
