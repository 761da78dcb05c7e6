"""The telemetry interface the team runtime calls, as a no-op (what runs when tracing is off)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")


class NoTelemetry:
    """Telemetry switched off: every hook returns at once and wraps nothing."""

    capture_content = False

    def run(self, team: str, tenant_id: str, run_id: str) -> AbstractContextManager[Any]:
        """A context around one run (the ``invoke_workflow`` span)."""
        return nullcontext()

    def wrap_agent(self, governed: T) -> T:
        """``governed`` (a GovernedAgent) traced as ``invoke_agent`` spans, its model calls as ``chat`` spans."""
        return governed

    def tool(self, name: str, call_id: str = "", arguments: Mapping[str, Any] | None = None,
             *, description: str = "") -> AbstractContextManager[Any]:
        """A context around one tool execution (the ``execute_tool`` span); ``set_result`` on what it yields."""
        return _NULL_TOOL_SPAN


class _NullToolSpan:
    """The no-op tool span, its own context manager: one shared object, nothing built per tool call."""

    def __enter__(self) -> _NullToolSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set_result(self, result: Any) -> None:
        """Record the tool's result (only kept with content capture)."""


_NULL_TOOL_SPAN = _NullToolSpan()
NO_TELEMETRY = NoTelemetry()
