"""What the durable stores share: JSON documents, key checks, prefix ranges and paging arguments."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from llmteam.backends.identifiers import validate_identifier
from llmteam.backends.text import sql_text_problem
from llmteam.tenancy._config import TenantConfig
from llmteam.tenancy._errors import TenantError

_MAX_CODEPOINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)


def check_key(key: object) -> str:
    """A key a durable store can hold: a string without NUL characters or lone surrogates."""
    if not isinstance(key, str):
        raise TypeError(f"key {key!r} is a {type(key).__name__}; keys are strings")
    problem = sql_text_problem(key)
    if problem is not None:
        raise ValueError(f"key {key!r} {problem}; fix the key")
    return key


def encode_value(key: str, value: Any) -> str:
    """``value`` as a JSON document; TypeError naming the key and the type if it is not JSON."""
    try:
        return json.dumps(value, allow_nan=False, separators=(",", ":"))
    except RecursionError:
        raise ValueError(f"value for key {key!r} is nested too deeply to store as JSON; store a flatter value") \
            from None
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"value for key {key!r} is a {type(value).__name__} that cannot be stored as JSON ({err}); "
            "store dicts, lists, strings, numbers, booleans or None"
        ) from err


def decode_value(document: str) -> Any:
    """The value stored as ``document``."""
    return json.loads(document)


def check_mapping(items: object) -> None:
    """TypeError unless ``items`` (of ``set_many``) is a mapping of key -> value."""
    if not isinstance(items, Mapping):
        raise TypeError(f"set_many needs a mapping of key -> value, not {type(items).__name__}")


def check_not_text(keys: object) -> None:
    """TypeError when ``keys`` is one string: iterating it would name each of its characters as a key."""
    if isinstance(keys, str):
        raise TypeError(f"expected a list of keys, not the string {keys!r}")


def encode_items(items: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Check and encode every pair before anything is written, so a bad one leaves the store untouched."""
    check_mapping(items)
    return [(check_key(k), encode_value(k, v)) for k, v in items.items()]


def check_keys(keys: Iterable[str]) -> list[str]:
    """Every key checked, duplicates removed, order kept."""
    check_not_text(keys)
    return list(dict.fromkeys(check_key(k) for k in keys))


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: no bound).

    With code-point (UTF-8 byte) ordering, ``prefix <= key < bound`` holds exactly for keys that start
    with ``prefix``, so a prefix scan is an index range and no LIKE wildcard can widen it.
    """
    chars = list(prefix)
    while chars:
        point = ord(chars.pop()) + 1
        if point in _SURROGATES:
            point = _SURROGATES.stop
        if point <= _MAX_CODEPOINT:
            return "".join(chars) + chr(point)
    return None


def check_page(limit: int, offset: int) -> None:
    """``limit`` and ``offset`` must be ints >= 0."""
    for name, value in (("limit", limit), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r} must be an int >= 0")


def encode_config(config: TenantConfig) -> str:
    """A tenant config as a JSON document, after validation; nothing is written if this raises."""
    if not isinstance(config, TenantConfig):
        raise TypeError(f"expected a TenantConfig, not {type(config).__name__}")
    config.validate()
    try:
        return json.dumps(config.to_dict(), allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as err:
        raise TypeError(f"tenant {config.tenant_id!r}: metadata cannot be stored as JSON ({err})") from err


def decode_config(document: str) -> TenantConfig:
    """A stored JSON document back into a TenantConfig; a corrupt row raises TenantError naming it."""
    try:
        return TenantConfig.from_dict(json.loads(document))
    except ValueError as err:
        raise TenantError(f"stored tenant row is corrupt ({err}): {document[:200]!r}") from err


def render_sql(templates: Mapping[str, str], table: str) -> dict[str, str]:
    """The statements of one store with ``{t}`` replaced by ``table``, the only identifier ever interpolated.

    ``table`` must pass :func:`llmteam.backends.identifiers.validate_identifier`; values are always bound.
    """
    validate_identifier(table)
    return {name: sql.replace("{t}", table) for name, sql in templates.items()}
