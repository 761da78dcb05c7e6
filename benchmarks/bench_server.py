"""``llmteam serve`` under load: requests/s and p50/p99 for authenticated GET /v1/runs/{id} and POST /v1/runs
(2-agent ScriptedLLM team) with 50 and 200 concurrent clients against one uvicorn worker on SQLite, and the same
GET route without authentication in the same run (interleaved rounds, medians) for the auth overhead ratio.

    python benchmarks/bench_server.py [--requests 1500] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TEAM = """\
team: support
llm: {provider: scripted, model: scripted-small, rules: [{match: "Classify", answer: "billing"}], default: "Fixed."}
agents:
  - {name: triage, prompt: "Classify: {query}"}
  - {name: answer, prompt: "Reply to {query} as {triage}"}
"""

BODY = {"team": "support", "input": {"query": "My invoice is wrong"}}

# The server process: the real app, generous key limits (we measure the server, not the limiter refusing), an
# enterprise tenant (no daily run cap), plus the same GET handler without authentication at /bench/runs/{id}.
SERVER = """\
import asyncio, sys, uvicorn
from fastapi import Request
from llmteam.server import create_app
from llmteam.server import _runs as runs
from llmteam.server._state import ServerState
from llmteam.tenancy import TenantConfig, TenantTier

url, teams, port, keyfile = sys.argv[1:5]
state = ServerState(url, teams_dir=teams, teams_poll=0, key_rate_per_minute=10_000_000, key_burst=100_000,
                    max_inflight=10_000)

async def setup():
    await state.open()
    await state.tenants.create_tenant(TenantConfig("bench", "bench", tier=TenantTier.ENTERPRISE))
    _, token = await state.keys.create("bench", "runs:write,runs:read", actor="cli:bench")
    open(keyfile, "w").write(token)

asyncio.run(setup())
state.opened = False  # reopen inside uvicorn's loop (the stores bind to the loop that uses them)
app = create_app(state=state)

@app.get("/bench/runs/{run_id}")
async def unauthenticated(request: Request, run_id: str) -> dict:
    return await runs.run_detail(state, "bench", run_id)

uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False, timeout_keep_alive=120,
            backlog=4096)
"""


def spare_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(base: str, method: str, path: str, headers: dict[str, str], n: int, clients: int,
               body: dict | None = None) -> tuple[float, float, float, int]:
    """(requests/s, p50 ms, p99 ms, errors) for n requests from ``clients`` concurrent connections."""
    latencies: list[float] = []
    errors = 0
    queue = iter(range(n))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:

        async def worker() -> None:
            nonlocal errors
            for _ in queue:
                t0 = time.perf_counter()
                try:
                    r = await client.request(method, path, headers=headers, json=body)
                except httpx.TransportError:  # counted, never hidden: the table's errors column
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - t0) * 1000)
                if r.status_code >= 400:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - t0
    latencies = sorted(latencies) or [float("nan")]
    return n / wall, latencies[len(latencies) // 2], latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], \
        errors


def start(tmp: Path) -> tuple[subprocess.Popen[bytes], str, dict[str, str], str]:
    """The server subprocess, its URL, the bench key's header and one finished run's id."""
    (tmp / "teams").mkdir()
    (tmp / "teams" / "support.yaml").write_text(TEAM)
    port, keyfile = spare_port(), tmp / "key"
    proc = subprocess.Popen([sys.executable, "-c", SERVER, f"sqlite:///{tmp / 'db.sqlite'}", str(tmp / "teams"),
                             str(port), str(keyfile)], env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200 and keyfile.exists():
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    auth = {"Authorization": f"Bearer {keyfile.read_text()}"}
    r = httpx.post(f"{base}/v1/runs", json=BODY, headers=auth, timeout=60)
    r.raise_for_status()
    return proc, base, auth, r.json()["run_id"]


async def measure(base: str, auth: dict[str, str], run_id: str, requests: int, rounds: int) -> None:
    print(f"{'figure':<44} {'clients':>7} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    names = {"auth": "GET /v1/runs/{id} (API key)", "open": "same handler, no authentication",
             "post": "POST /v1/runs (2-agent ScriptedLLM team)"}
    for clients in (50, 200):
        results: dict[str, list[tuple[float, float, float, int]]] = {"auth": [], "open": [], "post": []}
        for _ in range(rounds):  # interleaved: each round measures every figure once
            results["auth"].append(await load(base, "GET", f"/v1/runs/{run_id}", auth, requests, clients))
            results["open"].append(await load(base, "GET", f"/bench/runs/{run_id}", {}, requests, clients))
            results["post"].append(await load(base, "POST", "/v1/runs?wait=60", auth, max(requests // 5, clients),
                                              clients, BODY))
        medians = {}
        for k, rows in results.items():
            med = tuple(statistics.median(x[i] for x in rows) for i in range(3))
            medians[k] = med
            print(f"{names[k]:<44} {clients:>7} {med[0]:>9,.0f} {med[1]:>8.1f} {med[2]:>8.1f} "
                  f"{sum(x[3] for x in rows):>6}")
        print(f"{'auth overhead (GET req/s without / with key)':<44} {clients:>7} "
              f"{medians['open'][0] / medians['auth'][0]:>9.2f}x")


def main(requests: int, rounds: int) -> None:
    proc, base, auth, run_id = start(Path(tempfile.mkdtemp(prefix="bench-server-")))
    try:
        asyncio.run(measure(base, auth, run_id, requests, rounds))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    main(args.requests, args.rounds)
