"""Prompt templates: ``{name}`` placeholders only, ``{{``/``}}`` for literal braces, no attribute or index access."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any

from llmteam._repr import bounded_repr
from llmteam.team._errors import PromptVariableError, TeamConfigError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def template_fields(template: str, where: str) -> tuple[str, ...]:
    """The placeholder names of ``template`` in order of first use; a malformed template raises TeamConfigError."""
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
        if field not in names:
            names.append(field)
    return tuple(names)


def render(template: str, values: Mapping[str, Any], where: str) -> str:
    """Fill ``template`` from ``values``; a missing name raises PromptVariableError naming it and what is known."""
    out: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        if field not in values:
            known = ", ".join(sorted(values)) or "none"
            raise PromptVariableError(
                f"{where}: prompt variable {{{field}}} is not provided (known variables: {known}); pass it in the "
                "run input or let an earlier agent named so run first"
            )
        value = values[field]
        out.append(value if isinstance(value, str) else str(value))
    return "".join(out)
