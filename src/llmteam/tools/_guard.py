"""The data side of tool governance: sealed-value screening, keyed digests, and bounded result text."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from llmteam.context import SensitivityLevel
from llmteam.tools._errors import ToolResultError

_RANK = {level: i for i, level in enumerate(SensitivityLevel)}
MAX_ERROR_CHARS = 2_000
_JSON_SCALARS = frozenset((int, float, bool, type(None)))


@dataclass(frozen=True)
class SealedValue:
    """A value sealed in a run (an agent's SECRET output, say): who owns it and how sensitive it is."""

    owner: str
    level: SensitivityLevel
    text: str

    def cleared(self, agent: str, level: SensitivityLevel) -> bool:
        """True when ``agent`` (of sensitivity ``level``) may pass this value on: its owner or as sensitive."""
        return self._cleared_at(agent, _RANK[level])

    def _cleared_at(self, agent: str, rank: int) -> bool:
        return agent == self.owner or rank >= _RANK[self.level]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def sealed_leak(raw: str, parsed: Any, sealed: Iterable[SealedValue], agent: str,
                level: SensitivityLevel) -> SealedValue | None:
    """The first sealed value ``agent`` may not pass on that occurs in the raw arguments or any decoded string."""
    texts: list[str] | None = None
    rank = _RANK[level]  # the agent's clearance, looked up once for every sealed value
    for value in sealed:
        if not value.text or value._cleared_at(agent, rank):
            continue
        if texts is None:
            texts = [raw, *_strings(parsed)]
        if any(value.text in text for text in texts):
            return value
    return None


def digest(key: bytes | None, text: str) -> str:
    """``hmac-sha256:<hex>`` of ``text`` under the tenant's key, or ``sha256:<hex>`` when it has none."""
    data = text.encode("utf-8")
    if key:  # hmac.digest: the one-shot C implementation, same value as hmac.new(...).hexdigest()
        return "hmac-sha256:" + hmac.digest(key, data, "sha256").hex()
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(arguments: Any) -> str:
    """One JSON text per argument value (sorted keys), so equal arguments always digest alike."""
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=repr)


def result_text(tool: str, result: Any) -> str:
    """What a tool's result looks like to the model: text as is, anything else as JSON (ToolResultError if not)."""
    if isinstance(result, str):
        return result
    from pydantic_core import to_jsonable_python

    try:  # a plain number, bool or None is its own JSON value; anything else is converted first
        plain = result if type(result) in _JSON_SCALARS else to_jsonable_python(result)
        return json.dumps(plain, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ToolResultError(
            f"tool {tool!r} returned a {type(result).__name__} that cannot be sent to the model as JSON ({exc}); "
            "return text, numbers, lists, mappings or pydantic models"
        ) from None


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how much was cut."""
    if len(text) <= limit:
        return text
    note = f"... [truncated {len(text) - limit} characters]"
    return text[: max(0, limit - len(note))] + note
