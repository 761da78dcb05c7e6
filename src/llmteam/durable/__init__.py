"""Durable runs on DBOS Transact (extra ``durable``): crash-proof, resumable, queued per tenant, any worker.

A run is a DBOS workflow and each of its side effects (admission, every model and tool call, every agent's audit
record) a checkpointed step; the writes that close it (its completion record, mining events and run record) are
found by their keys when it resumes. So a run resumed after a crash repeats no completed model call and writes
each record once::

    from llmteam.durable import DurableRuntime
    async with DurableRuntime(team, "sqlite:///./.llmteam/llmteam.db", tenant="acme") as rt:
        run_id = await rt.submit({"query": "My invoice is wrong"})
        result = await rt.result(run_id, timeout=60)

``llmteam worker TEAM.yaml`` works the queues from another process; ``llmteam runs`` lists, shows, cancels,
resumes, approves, denies and retries runs. See docs/durable.md.
"""

from __future__ import annotations

try:
    import dbos  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - exercised by the no-dbos test in a subprocess
    if exc.name != "dbos":
        raise
    raise ModuleNotFoundError(
        "llmteam.durable needs DBOS Transact; install the extra: pip install 'llmteam[durable]'", name="dbos"
    ) from None

from llmteam.durable._approval_store import PendingApproval
from llmteam.durable._control import RunControl, RunStatus, system_db_for
from llmteam.durable._engine import DurableError, DurableSteps, RunFailedError
from llmteam.durable._runtime import DurableRuntime

__all__ = ["DurableError", "DurableRuntime", "DurableSteps", "PendingApproval", "RunControl", "RunFailedError",
           "RunStatus", "system_db_for"]
