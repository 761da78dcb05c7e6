"""Prompt templates: ``{name}`` placeholders, ``{name.key}`` into JSON data, ``{{``/``}}`` for literal braces.

A dotted placeholder walks mapping keys of a JSON value (a structured agent output or a run-input mapping);
there is no attribute or index access on Python objects.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.team._errors import PromptVariableError, TeamConfigError
from llmteam.team._structured import Structured

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
MAX_LISTED = 10  # names an error message lists before saying how many more there are
MAX_NAME_CHARS = 64


def names_list(names: Iterable[Any], empty: str = "none") -> str:
    """The first :data:`MAX_LISTED` of ``names`` (sorted, each cut to 64 characters) and how many more there are."""
    ordered = sorted(map(str, names))
    shown = ", ".join(n if len(n) <= MAX_NAME_CHARS else n[:MAX_NAME_CHARS - 3] + "..." for n in ordered[:MAX_LISTED])
    more = f" and {len(ordered) - MAX_LISTED} more" if len(ordered) > MAX_LISTED else ""
    return (shown + more) or empty


def template_fields(template: str, where: str) -> tuple[str, ...]:
    """The variables ``template`` uses (the part before any dot) in order of first use; a malformed template raises
    TeamConfigError."""
    if not isinstance(template, str) or not template.strip():
        raise TeamConfigError(f"{where}: prompt must be non-empty text, got {bounded_repr(template)}")
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TeamConfigError(
            f"{where}: prompt {template[:80]!r} is malformed ({exc}); write {{{{ for a literal brace"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if not _NAME_RE.fullmatch(field) or spec or conversion:
            raise TeamConfigError(
                f"{where}: prompt placeholder {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} is not a plain name; use {{name}} (or {{{{ for a literal brace)"
            )
        root = field.split(".", 1)[0]
        if root not in names:
            names.append(root)
    return tuple(names)


def _lookup(value: Any, field: str, where: str) -> Any:
    """The value at the dotted path below a variable's value: mapping keys of JSON data only. An error names the
    keys there (bounded) or the value's type, never the value."""
    root, *path = field.split(".")
    data = value.data if path and isinstance(value, Structured) else value
    for i, key in enumerate(path):
        if not isinstance(data, Mapping) or key not in data:
            at = ".".join([root, *path[:i]])
            keys = names_list(data) if isinstance(data, Mapping) else f"not a mapping but {_json_type(data)}"
            raise PromptVariableError(f"{where}: prompt variable {{{field}}}: {at} has no key {key!r} ({keys})")
        data = data[key]
    if path and not isinstance(data, str):
        return json.dumps(data, ensure_ascii=False, sort_keys=True)
    return data


def _json_type(value: Any) -> str:
    """The JSON type of ``value`` in words (what an error may say about a value it must not quote)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "text", list: "a list", type(None): "null"}.get(type(value), f"a {type(value).__name__}")


def render(template: str, values: Mapping[str, Any], where: str) -> str:
    """Fill ``template`` from ``values``; a missing name raises PromptVariableError naming it and what is known."""
    out: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        root = field.split(".", 1)[0]
        if root not in values:
            known = names_list(values)
            raise PromptVariableError(
                f"{where}: prompt variable {{{root}}} is not provided (known variables: {known}); pass it in the "
                "run input or let an earlier agent named so run first"
            )
        value = _lookup(values[root], field, where)
        out.append(value if isinstance(value, str) else str(value))
    return "".join(out)
