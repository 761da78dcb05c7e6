"""PostgreSQL audit store: many processes appending to one tenant all succeed, and the chain stays gap-free."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from llmteam.audit import AuditLedger, SigningKey
from llmteam.audit.stores import PostgresAuditStore

pytestmark = pytest.mark.postgres

HAMMER = """
import asyncio, sys
from llmteam.audit import AuditTrail, AuditEventType
from llmteam.audit.stores import open_audit_store
async def main():
    s = open_audit_store(sys.argv[1])
    t = AuditTrail(s, tenant_id="acme", use_context_tenant=False)
    async def one_caller(n):
        for _ in range(n):
            print((await t.log(AuditEventType.DATA_CREATED)).sequence_number, flush=True)
    # lone appends and commit groups at once, from every process, on one tenant
    await asyncio.gather(one_caller(int(sys.argv[2])), one_caller(int(sys.argv[2])))
    await s.close()
asyncio.run(main())
"""


async def test_many_processes_append_to_one_tenant(pg_schema_url: str, pg_pool: Any) -> None:
    processes, per_caller = 16, 30
    procs = [await asyncio.create_subprocess_exec(sys.executable, "-c", HAMMER, pg_schema_url, str(per_caller),
                                                  stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                                                  env=dict(os.environ))
             for _ in range(processes)]
    results = [await p.communicate() for p in procs]
    errors = [err.decode()[-500:] for p, (_, err) in zip(procs, results, strict=True) if p.returncode != 0]
    assert not errors, errors
    seqs = sorted(int(x) for out, _ in results for x in out.decode().split())
    assert seqs == list(range(1, processes * 2 * per_caller + 1))
    assert (await AuditLedger(PostgresAuditStore(pg_pool), SigningKey.generate()).verify("acme")).ok
