"""TenantIsolatedStore side by side with the raw baseline: the same API over a dict, values kept as given.

Run: python benchmarks/bench_tenancy_peers.py [--ops 200000] [--rounds 11]

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


async def _ops_new_keys(store: Any, keys: list[str]) -> None:
    """Every key used once (set, then get): nothing a store keeps per key can help."""
    with TenantContext("acme"):
        for i, key in enumerate(keys):
            await store.set(key, i)
            await store.get(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    loop = asyncio.new_event_loop()

    def side_by_side(run: Any) -> tuple[float, float]:
        ours, raw = TenantIsolatedStore(MemoryKeyValueStore()), NoCopyStore()
        return interleave(
            lambda: time_call(lambda: loop.run_until_complete(run(ours))),
            lambda: time_call(lambda: loop.run_until_complete(run(raw))),
            args.rounds,
        )

    same = side_by_side(lambda store: _ops(store, args.ops))
    fresh_keys = [f"key-{i}" for i in range(args.ops)]
    fresh = side_by_side(lambda store: _ops_new_keys(store, fresh_keys))
    loop.close()
    print(f"isolated key-value store vs a no-copy store of the same API, {args.rounds} interleaved rounds")
    rows = [
        row(f"get+set on the memory store ({2 * args.ops:,} ops)", *same, 1.0),
        row(f"  the same with a new key every set ({2 * args.ops:,} ops)", *fresh, 1.0),
    ]
    print_table(rows, "no-copy store")


if __name__ == "__main__":
    main()
