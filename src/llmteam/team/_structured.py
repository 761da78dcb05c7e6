"""Structured output: an agent whose answer must be JSON matching a pydantic model or a JSON Schema.

The schema goes to the model as ``response_format`` (``{"type": "json_schema", ...}``) when the provider says
``supports_response_format = True``; otherwise the prompt asks for the JSON. The answer is validated (pydantic for
a model, ``jsonschema`` for a schema given as data, e.g. from YAML); an invalid answer gets one repair round in
which the model is told the validation error; a second invalid answer fails the step with
:class:`StructuredOutputError` naming the agent and the problem. Only strict JSON is an answer: no ``NaN`` or
``Infinity``, no number out of range, at most ``MAX_DEPTH`` levels of nesting. A problem names the path, the
schema keyword and what the schema wants, never a value of the answer (which may be sealed): see ``_schema``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from llmteam.llm import LLMProvider, Message
from llmteam.team._errors import TeamConfigError, TeamError
from llmteam.team._loop import LoopResult
from llmteam.team._schema import (
    check_refs,
    declared_names,
    jsonschema_problems,
    listed,
    load_json,
    pydantic_problems,
)

_FENCE_RE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)
_SCHEMA_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")
MAX_ERROR_CHARS = 1500
MAX_REFUSAL_CHARS = 300

Ask = Callable[[list[Message], dict[str, Any]], Awaitable[LoopResult]]


class StructuredOutputError(TeamError, ValueError):
    """An agent's answer did not match its output schema, even after one repair round."""


def supports_response_format(llm: object) -> bool:
    """True when ``llm`` declares ``supports_response_format = True`` (it honours a JSON Schema response_format)."""
    return getattr(llm, "supports_response_format", False) is True


@dataclass(frozen=True)
class Structured:
    """A structured agent output as a prompt variable: ``{agent}`` renders the JSON, ``{agent.field}`` a field."""

    text: str

    @property
    def data(self) -> Any:
        """The JSON value (dicts, lists, strings, numbers)."""
        return json.loads(self.text)

    def __str__(self) -> str:
        return self.text


class OutputSchema:
    """What an agent must answer: a pydantic model class or a JSON Schema mapping, checked when the team is built."""

    def __init__(self, spec: Any, agent: str, *, sealed: bool = False) -> None:
        self.agent = agent
        self.sealed = sealed  # a SECRET/TOP_SECRET agent's: not even a refusal of it is quoted
        self.model: Any = None
        if isinstance(spec, Mapping):
            self.schema = dict(spec)
            self.name = _SCHEMA_NAME_RE.sub("_", str(self.schema.get("title") or f"{agent}_output"))[:64]
            try:
                from jsonschema import validators
                from jsonschema.exceptions import SchemaError

                cls = validators.validator_for(self.schema)
                cls.check_schema(self.schema)
            except SchemaError as exc:
                raise TeamConfigError(f"agent {agent!r}: output schema is not a valid JSON Schema: {exc.message}") \
                    from None
            check_refs(self.schema, agent)
            self._validator = cls(self.schema)
        else:
            from pydantic import BaseModel

            if not (isinstance(spec, type) and issubclass(spec, BaseModel)):
                raise TeamConfigError(
                    f"agent {agent!r}: output={spec!r:.100} must be a pydantic model class or a JSON Schema mapping"
                )
            self.model = spec
            self.schema = spec.model_json_schema()
            self.name = _SCHEMA_NAME_RE.sub("_", spec.__name__)[:64]
        self._declared = declared_names(self.schema)

    def __repr__(self) -> str:
        return f"OutputSchema({self.name!r})"

    def response_format(self) -> dict[str, Any]:
        """The chat-completions ``response_format`` asking for JSON that matches the schema."""
        return {"type": "json_schema", "json_schema": {"name": self.name, "schema": self.schema}}

    def instructions(self) -> str:
        """What the prompt says when the provider cannot take a ``response_format``."""
        return ("Answer with only a JSON value (no prose, no code fence) that matches this JSON Schema:\n"
                + json.dumps(self.schema, sort_keys=True))

    def parse(self, text: str) -> Any:
        """The validated value of answer ``text`` (a model instance, or plain JSON data); ValueError says why not,
        naming paths and schema keywords only (never a value of the answer)."""
        fenced = _FENCE_RE.match(text)
        data = load_json(fenced.group(1) if fenced else text)
        try:
            if self.model is not None:
                from pydantic import ValidationError

                try:
                    return self.model.model_validate(data)
                except ValidationError as exc:
                    problems = pydantic_problems(exc.errors(include_input=False, include_url=False), self._declared)
            else:
                problems = jsonschema_problems(self._validator.iter_errors(data), self._declared)
        except (RecursionError, ValueError) as exc:
            raise ValueError(f"the JSON could not be checked against {self.name} ({type(exc).__name__})") from None
        except Exception as exc:  # the validator's own failure (a custom validator, a reference): no value quoted
            raise ValueError(f"checking the JSON against {self.name} failed ({type(exc).__name__})") from None
        if not problems:
            return data
        raise ValueError(f"the JSON does not match {self.name}: {listed(problems)}")

    def dump(self, value: Any) -> str:
        """Canonical JSON text of a validated value (what is stored, audited by digest and shown to later agents);
        ValueError when it holds a non-finite number or cannot be written."""
        try:
            if self.model is not None:
                text = str(value.model_dump_json())
                load_json(text)  # pydantic writes inf/nan as null by default, but a model may configure otherwise
                return text
            return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
        except (RecursionError, ValueError, TypeError) as exc:
            raise ValueError(f"the value of {self.name} cannot be written as JSON ({type(exc).__name__})") from None

    def _refused(self, result: LoopResult) -> None:
        """StructuredOutputError when the model refused to answer: no repair round asks it again."""
        refusal = result.completion.refusal
        if refusal:
            said = f"({len(refusal)} characters, sealed)" if self.sealed else refusal[:MAX_REFUSAL_CHARS]
            raise StructuredOutputError(f"agent {self.agent!r}: the model refused to answer with {self.name}: {said}")

    async def complete(self, llm: LLMProvider, ask: Ask, messages: list[Message],
                       options: Mapping[str, Any]) -> tuple[LoopResult, Any]:
        """Ask for the structured answer through ``ask`` (the step's model loop), with one repair round.

        Returns the loop result (every round's usage and tool calls; the text is the canonical JSON) and the
        validated value; StructuredOutputError when the repaired answer is still invalid.
        """
        opts = dict(options)
        convo = list(messages)
        if supports_response_format(llm):
            opts["response_format"] = self.response_format()
        else:
            convo.append({"role": "system", "content": self.instructions()})
        first = await ask(convo, opts)
        self._refused(first)
        try:
            value = self.parse(first.completion.text)
            return _canonical(first, self.dump(value)), value
        except ValueError as exc:
            problem = str(exc)[:MAX_ERROR_CHARS]
        repair = [*convo, {"role": "assistant", "content": first.completion.text},
                  {"role": "user", "content": f"Your answer was invalid: {problem}\nAnswer again with only the "
                                              "corrected JSON."}]
        second = await ask(repair, opts)
        self._refused(second)
        second.usage.add(first.usage)
        second.calls[:0] = first.calls
        try:
            value = self.parse(second.completion.text)
            return _canonical(second, self.dump(value)), value
        except ValueError as exc:
            raise StructuredOutputError(
                f"agent {self.agent!r}: the answer does not match its output schema {self.name} after one repair "
                f"round: {str(exc)[:MAX_ERROR_CHARS]}"
            ) from None


def _canonical(result: LoopResult, text: str) -> LoopResult:
    return replace(result, completion=replace(result.completion, text=text))
