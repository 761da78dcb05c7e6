"""OpenTelemetry traces and metrics for team runs, following the GenAI semantic conventions (extra ``otel``).

A run is an ``invoke_workflow`` span, each agent step an ``invoke_agent`` span, each model call a ``chat`` span
and each tool call an ``execute_tool`` span; model calls also record the ``gen_ai.client.token.usage`` and
``gen_ai.client.operation.duration`` histograms. Tenant and run ids are attributes (``llmteam.tenant.id``,
``llmteam.run.id``). Prompts, outputs and tool arguments are recorded only with ``capture_content=True``.

``TeamRuntime(telemetry=...)`` takes a :class:`Telemetry` (own providers or options), ``True`` (the global
providers), ``False`` (off) or ``None`` (the default: on when the application has imported OpenTelemetry,
else off). Nothing here imports ``opentelemetry`` until a :class:`Telemetry` is built.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from llmteam.observability._noop import NO_TELEMETRY, NoTelemetry

if TYPE_CHECKING:
    from llmteam.observability._otel import Telemetry

__all__ = ["NO_TELEMETRY", "NoTelemetry", "Telemetry", "resolve_telemetry"]


def __getattr__(name: str) -> Any:
    if name == "Telemetry":
        from llmteam.observability._otel import Telemetry

        return Telemetry
    raise AttributeError(f"module 'llmteam.observability' has no attribute {name!r}")


def resolve_telemetry(option: NoTelemetry | bool | None) -> NoTelemetry:
    """The telemetry a runtime uses for ``option``: a given object, the global providers (True), or off (False).

    ``None`` means on only when the application has already imported the OpenTelemetry API (it configured
    tracing), so a process without OpenTelemetry pays nothing.
    """
    if isinstance(option, NoTelemetry):
        return option
    if option is None:
        option = "opentelemetry.trace" in sys.modules
    if option is True:
        from llmteam.observability._otel import Telemetry

        return Telemetry()
    if option is False:
        return NO_TELEMETRY
    raise TypeError(f"telemetry={option!r} must be a Telemetry, True, False or None")
