"""Run-level plumbing for tools and streaming: a runtime's tool settings, and a run turned into an event stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from llmteam.audit import AuditTrail
from llmteam.licensing import LicenseTier
from llmteam.team._errors import TeamConfigError
from llmteam.team._loop import Publish, RunEvent
from llmteam.tenancy import TenantConfig
from llmteam.tools import Approver, ToolPolicy, ToolScope

if TYPE_CHECKING:
    from llmteam.ratelimit import RateLimiter
    from llmteam.team._result import RunResult

STREAM_BUFFER = 64  # events buffered ahead of a slow consumer; beyond that the run waits


class ToolSettings:
    """A runtime's tool governance settings (``TeamRuntime(tool_policy=, approver=, tool_digest_key=)``).

    ``policy``: one :class:`ToolPolicy`, or tenant id -> policy with ``"*"`` for the others (it only narrows the
    agents' declarations). ``approver``: an async callable deciding ``confirm`` calls (without one they are
    refused). ``digest_key``: bytes, or tenant id -> bytes; tool arguments and results are audited as
    HMAC-SHA256 digests under it, as plain SHA-256 without one.
    """

    def __init__(self, policy: ToolPolicy | Mapping[str, ToolPolicy] | None, approver: Approver | None,
                 digest_key: bytes | Mapping[str, bytes] | None) -> None:
        if not (policy is None or isinstance(policy, ToolPolicy) or (
                isinstance(policy, Mapping) and all(isinstance(p, ToolPolicy) for p in policy.values()))):
            raise TeamConfigError(f"tool_policy={policy!r:.100} must be a ToolPolicy or a mapping tenant id -> "
                                  "ToolPolicy ('*' for the others)")
        if approver is not None and not callable(approver):
            raise TeamConfigError(f"approver={approver!r} must be an async callable(ToolRequest) -> bool")
        if not (digest_key is None or isinstance(digest_key, bytes) or (
                isinstance(digest_key, Mapping) and all(isinstance(k, bytes) for k in digest_key.values()))):
            raise TeamConfigError("tool_digest_key must be bytes or a mapping tenant id -> bytes")
        self.policy = policy
        self.approver = approver
        self.digest_key = digest_key

    def policy_for(self, tenant_id: str) -> ToolPolicy:
        """The tenant's policy: its own, else the ``"*"`` one, else allow-what-was-declared."""
        policy = self.policy
        if isinstance(policy, Mapping):
            policy = policy.get(tenant_id) or policy.get("*")
        return policy or ToolPolicy()

    def key_for(self, tenant_id: str) -> bytes | None:
        """The tenant's digest key, if one is configured."""
        key = self.digest_key
        return key.get(tenant_id) if isinstance(key, Mapping) else key

    def scope(self, config: TenantConfig, run_id: str, team: str, trail: AuditTrail,
              has_tier: Callable[[LicenseTier], bool],
              limiter_for: Callable[[str, float], Awaitable[RateLimiter]]) -> ToolScope:
        """The tool scope of one run of ``team`` for the tenant ``config``."""
        tenant_id = config.tenant_id
        return ToolScope(
            tenant_id, run_id, team, trail, self.policy_for(tenant_id),
            has_feature=config.get_effective_limits().has_feature, has_tier=has_tier, approver=self.approver,
            limiter_for=limiter_for, digest_key=self.key_for(tenant_id),
        )


async def stream_events(start: Callable[[Publish], Awaitable[RunResult]]) -> AsyncIterator[RunEvent]:
    """Run ``start(publish)`` in a task, yielding what it publishes, then ``run_finished`` with its result.

    At most :data:`STREAM_BUFFER` events wait for the consumer (the run waits beyond that). Closing the iterator
    early (``contextlib.aclosing``, or when it is collected) cancels the run; the run's own error is re-raised.
    """
    queue: asyncio.Queue[RunEvent] = asyncio.Queue(maxsize=STREAM_BUFFER)
    task = asyncio.ensure_future(start(queue.put))
    try:
        while not (task.done() and queue.empty()):
            get = asyncio.ensure_future(queue.get())
            await asyncio.wait((get, task), return_when=asyncio.FIRST_COMPLETED)
            if not get.done():
                get.cancel()  # the run ended: what it published is in the queue
                continue
            yield get.result()
        result = await task
    finally:
        if not task.done():
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: S110 - the run records its own failure
                pass
    data: dict[str, Any] = {"usage": result.usage.to_dict(), "output": result.output}
    yield RunEvent("run_finished", result.run_id, data=data, result=result)
