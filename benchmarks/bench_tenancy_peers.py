"""TenantIsolatedStore side by side with the raw baseline: the same API over a dict, values kept as given.

Run: python benchmarks/bench_tenancy_peers.py [--ops 200000] [--rounds 7]

The baseline (``NoCopyStore`` below) namespaces keys by the current tenant exactly as the contract says, but keeps
and returns the caller's objects, so a caller can alias a stored value. Ours never lets that happen (mutable values
are copied in and out; immutable ones need no copy). The ratio is the baseline's time / ours (above 1: faster).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from _peers import interleave, print_table, row, time_call

from llmteam.tenancy import TenantContext, TenantContextError, TenantIsolatedStore, current_tenant
from llmteam.tenancy.stores import MemoryKeyValueStore


class NoCopyStore:
    """get/set of the TenantIsolatedStore API over one dict, with no copies and no validation beyond the tenant."""

    def __init__(self, separator: str = ":") -> None:
        self._data: dict[str, Any] = {}
        self.separator = separator

    def _ns(self) -> str:
        tenant = current_tenant.get()
        if not tenant:
            raise TenantContextError("no tenant context is set")
        return tenant + self.separator

    async def get(self, key: str) -> Any | None:
        return self._data.get(self._ns() + key)

    async def set(self, key: str, value: Any) -> None:
        self._data[self._ns() + key] = value


async def _ops(store: Any, n: int) -> None:
    with TenantContext("acme"):
        for i in range(n):
            key = "k" if i & 1 else "j"
            await store.set(key, i)
            await store.get(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    ours = TenantIsolatedStore(MemoryKeyValueStore())
    raw = NoCopyStore()
    loop = asyncio.new_event_loop()
    ours_s, raw_s = interleave(
        lambda: time_call(lambda: loop.run_until_complete(_ops(ours, args.ops))),
        lambda: time_call(lambda: loop.run_until_complete(_ops(raw, args.ops))),
        args.rounds,
    )
    loop.close()
    print(f"isolated key-value store vs a no-copy store of the same API, {args.rounds} interleaved rounds")
    print_table([row(f"get+set on the memory store ({2 * args.ops:,} ops)", ours_s, raw_s, 1.0)], "no-copy store")


if __name__ == "__main__":
    main()
