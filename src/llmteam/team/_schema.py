"""Output-schema helpers: the build-time ``$ref`` check, and validation problems that never quote the answer.

An agent's answer may be sealed (SECRET/TOP_SECRET) and its validation errors reach exception messages, the run
record, the audit chain and traces. So a problem names only where it is (the path, with keys the schema does not
declare masked), the schema keyword that failed and what the schema expects there: never a value of the answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from llmteam._repr import bounded_repr
from llmteam.team._errors import TeamConfigError

MAX_DEPTH = 100  # nesting levels of a structured answer: deeper JSON is refused (no recursion limit is reached)
MAX_PROBLEMS = 10
_NOT_SUBSCHEMAS = frozenset({"enum", "const", "default", "examples", "required", "dependentRequired"})
_NAME_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
# pydantic error types whose message is built only from the schema (bounds, expected types or literals)
_SCHEMA_ONLY_MESSAGES = frozenset({
    "missing", "extra_forbidden", "model_type", "model_attributes_type", "dataclass_type", "none_required",
    "greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of", "finite_number",
    "too_short", "too_long", "string_type", "string_too_short", "string_too_long", "string_pattern_mismatch",
    "string_not_ascii", "enum", "literal_error", "dict_type", "list_type", "tuple_type", "set_type",
    "frozen_set_type", "bool_type", "bool_parsing", "int_type", "int_parsing", "int_parsing_size", "int_from_float",
    "float_type", "float_parsing", "date_type", "time_type", "datetime_type", "decimal_type", "json_type",
    "recursion_loop",
})


def _subschemas(schema: Any) -> Iterator[Mapping[str, Any]]:
    """``schema`` and every schema node below it (walked without recursion; data keywords' values skipped)."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, Mapping):
            continue
        yield node
        for key, value in node.items():
            if key in _NAME_MAPS and isinstance(value, Mapping):
                stack.extend(value.values())
            elif key not in _NOT_SUBSCHEMAS and isinstance(value, Mapping):
                stack.append(value)
            elif key not in _NOT_SUBSCHEMAS and isinstance(value, list):
                stack.extend(value)


def _pointer(root: Any, fragment: str) -> bool:
    """True when JSON pointer ``fragment`` (``/a/b``, percent- and ``~``-escaped) names a node of ``root``."""
    node = root
    for raw in fragment.split("/")[1:]:
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False
    return True


def check_refs(schema: Mapping[str, Any], agent: str) -> None:
    """TeamConfigError unless every ``$ref`` of ``schema`` points inside it (``#``, ``#/pointer``, ``#anchor``).

    Nothing is fetched: a remote or unresolvable reference would fail every run after the model was billed.
    A schema with a nested ``$id`` (a second resource) is refused too: its relative references are ambiguous.
    """
    nodes = list(_subschemas(schema))
    if any(isinstance(node.get("$id"), str) for node in nodes[1:]):
        raise TeamConfigError(f"agent {agent!r}: output schema has a nested '$id'; keep the schema one document "
                              "(put shared parts under '$defs' and point at them with '#/$defs/...')")
    anchors = {node["$anchor"] for node in nodes if isinstance(node.get("$anchor"), str)}
    for node in nodes:
        ref = node.get("$ref")
        if not isinstance(ref, str) or (ref.startswith("#") and (
            ref == "#" or (ref.startswith("#/") and _pointer(schema, ref[1:])) or ref[1:] in anchors
        )):
            continue
        raise TeamConfigError(
            f"agent {agent!r}: output schema $ref {bounded_repr(ref)} does not point inside the schema; use "
            "'#/$defs/Name' for a part defined under '$defs' (remote schemas are never fetched)"
        )


def declared_names(schema: Any) -> frozenset[str]:
    """Every property name ``schema`` declares (under ``properties`` or ``required``): what a path may show."""
    names: set[str] = set()
    for node in _subschemas(schema):
        props = node.get("properties")
        if isinstance(props, Mapping):
            names.update(k for k in props if isinstance(k, str))
        required = node.get("required")
        if isinstance(required, list):
            names.update(k for k in required if isinstance(k, str))
    return frozenset(names)


def where(path: Iterable[Any], declared: frozenset[str]) -> str:
    """A path into the answer: list indices and declared names as they are, any other key as ``<key>``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + (part if part in declared and len(part) <= 64 else "<key>")
    return out or "(root)"


def _expected(keyword: str, value: Any, instance: Any) -> str:
    """What a failed JSON Schema keyword wanted, said from the schema alone."""
    if keyword == "required" and isinstance(value, list):
        missing = [n for n in value if isinstance(instance, Mapping) and n not in instance]
        return f"misses required propert{'y' if len(missing) == 1 else 'ies'} {', '.join(map(repr, missing[:5]))}"
    if keyword in ("additionalProperties", "unevaluatedProperties") and value is False:
        return f"has a property the schema does not allow ({keyword}: false)"
    if keyword == "type":
        return f"is not of type {bounded_repr(value)}"
    return f"fails {keyword!r} (the schema wants {bounded_repr(value, 100)})"


def jsonschema_problems(errors: Iterable[Any], declared: frozenset[str]) -> list[str]:
    """``path: what failed`` for each jsonschema ValidationError (none quotes the instance)."""
    return [f"{where(e.absolute_path, declared)}: {_expected(str(e.validator), e.validator_value, e.instance)}"
            for e in errors]


def pydantic_problems(errors: Sequence[Mapping[str, Any]], declared: frozenset[str]) -> list[str]:
    """``path: message`` for each pydantic error; the message only when pydantic builds it from the schema."""
    out = []
    for error in errors:
        kind = str(error.get("type", "invalid"))
        said = str(error.get("msg", "")) if kind in _SCHEMA_ONLY_MESSAGES else f"fails {kind!r}"
        out.append(f"{where(error.get('loc', ()), declared)}: {said[:200]}")
    return out


def listed(problems: Sequence[str]) -> str:
    """The first problems joined, with how many more there are."""
    more = f"; and {len(problems) - MAX_PROBLEMS} more" if len(problems) > MAX_PROBLEMS else ""
    return "; ".join(problems[:MAX_PROBLEMS]) + more


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is out of range (it would be Infinity); JSON numbers must be finite")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity); answer with finite numbers")


def load_json(body: str) -> Any:
    """The JSON value of ``body``; ValueError (never quoting it) when it is not strict, finite, shallow JSON."""
    try:
        data = json.loads(body, parse_float=_finite, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the answer is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"the JSON is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        if "NaN" in str(exc) or "finite" in str(exc):
            raise ValueError(f"the answer is not valid JSON: {exc}") from None
        raise ValueError("the answer is not valid JSON (a number is out of range)") from None
    check_depth(data)
    return data


def check_depth(data: Any) -> None:
    """ValueError when ``data`` nests containers more than :data:`MAX_DEPTH` levels deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            raise ValueError(f"the JSON is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
