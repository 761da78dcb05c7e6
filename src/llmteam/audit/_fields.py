"""The checked fields of one audit record, from ``AuditTrail.log()``'s keyword arguments (contract §4.6).

:func:`event_fields` recognises the usual call by the exact type of each argument given; :func:`checked_fields` spells
every check out, normalises what it can (a str subclass to plain text, a severity name to its member) and rejects
the rest with an error naming the bad value. Both copy the caller's dicts and lists, so a record never aliases them.
"""

from __future__ import annotations

from typing import Any

from llmteam.audit._enums import AuditEventType, AuditSeverity
from llmteam.audit._record import deep_copy, parse_event_type, parse_severity

__all__ = ["checked_fields", "event_fields"]

_STR_ARGS = (
    "actor_type", "actor_id", "actor_ip", "action", "resource_type", "resource_id", "error_message", "pipeline_id",
    "run_id", "agent_name", "step_name",
)
_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(_STR_ARGS, ""), "actor_type": "system", "severity": AuditSeverity.INFO, "old_value": None,
    "new_value": None, "success": True, "metadata": None, "tags": None,
}
_LOG_ARGS = frozenset(_DEFAULTS)  # every argument log() takes: the ones with a default
# The usual call (every tool call's): each argument given of exactly its usual type (metadata: a dict or None), the
# defaults are of those types too (see event_fields)
_USUAL_TYPE: dict[str, type] = {
    **dict.fromkeys(_STR_ARGS, str), "severity": AuditSeverity, "success": bool, "metadata": dict,
    **dict.fromkeys(("old_value", "new_value", "tags"), type(None)),
}


def event_fields(event_type: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The checked fields of one record from log()'s arguments, with copies of the caller's dicts and lists.

    The usual call (plain str fields, an exact AuditSeverity, a bool success, metadata a dict or None, no
    old/new value or tags) is recognised by the exact type of each argument given (an unknown name has none);
    :func:`checked_fields` gives the same result for it (tests/audit/test_audit_fields.py runs both on the same
    arguments) and checks, and normalises or rejects, every other call.
    """
    usual = _USUAL_TYPE.get
    for name, value in kwargs.items():
        if usual(name) is not type(value) and (name != "metadata" or value is not None):
            return checked_fields(event_type, kwargs)
    f = {**_DEFAULTS, **kwargs}
    f["event_type"] = event_type if type(event_type) is AuditEventType else parse_event_type(event_type)
    metadata = f["metadata"]
    f["metadata"] = {} if metadata is None else deep_copy(metadata)
    f["tags"] = []
    return f


def checked_fields(event_type: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """:func:`event_fields` with every check spelled out: str subclasses stored as plain text, values parsed."""
    if not _LOG_ARGS.issuperset(kwargs):
        raise TypeError(f"unknown audit field(s) {sorted(set(kwargs) - _LOG_ARGS)}; allowed: {sorted(_LOG_ARGS)}")
    f = dict(_DEFAULTS)
    f.update(kwargs)
    for name in _STR_ARGS:
        value = f[name]
        if type(value) is not str:
            if not isinstance(value, str):
                raise TypeError(f"audit field {name}={value!r} must be a str")
            f[name] = str.__str__(value)  # a str subclass (a StrEnum member) is stored as its plain text
    f["event_type"] = parse_event_type(event_type)
    f["severity"] = parse_severity(f["severity"])
    for name in ("old_value", "new_value", "metadata"):
        value = f[name]
        if value is not None and not isinstance(value, dict):
            raise TypeError(f"audit field {name}={value!r} must be a dict or None")
        if value is not None:  # an empty dict is copied too, like any other
            f[name] = deep_copy(value)
    if f["metadata"] is None:
        f["metadata"] = {}
    tags = f["tags"]
    if tags is None:
        f["tags"] = []
    elif not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise TypeError(f"audit tags={tags!r} must be a list of str or None")
    else:
        f["tags"] = list(tags)
    f["success"] = bool(f["success"])
    return f
